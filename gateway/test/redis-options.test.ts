import { describe, expect, it } from 'vitest';
import { loadEnv } from '../src/env.js';
import { bullConnection, parseSentinels, redisOptions, SentinelListError } from '../src/redis.js';

describe('parseSentinels', () => {
  it('reads host:port lists, with spaces, a trailing comma, the default port and bracketed IPv6', () => {
    expect(parseSentinels(' 10.0.0.1:26380, redis-b ,[::1]:26381,[fe80::1],')).toEqual([
      { host: '10.0.0.1', port: 26380 },
      { host: 'redis-b', port: 26379 },
      { host: '::1', port: 26381 },
      { host: 'fe80::1', port: 26379 },
    ]);
  });

  it.each([
    ['', /names no sentinel/],
    [' , ', /names no sentinel/],
    ['10.0.0.1:', /"10.0.0.1:": the port must be a number from 1 to 65535/],
    ['10.0.0.1:0', /the port must be/],
    ['10.0.0.1:65536', /the port must be/],
    ['10.0.0.1:26379x', /the port must be/],
    ['a:1,b:-2', /"b:-2": the port must be/],
    ['::1:26379', /IPv6 address goes in brackets/],
    ['redis://a:26379', /"redis:\/\/a:26379" is a URL, not host:port/],
    ['a b:26379', /"a b" is not a host name or address/],
  ])('refuses %j, naming the bad entry', (list, message) => {
    expect(() => parseSentinels(list)).toThrow(SentinelListError);
    expect(() => parseSentinels(list)).toThrow(message);
  });
});

describe('REDIS_SENTINELS in the environment', () => {
  it('stops the start with the variable and the bad entry named', () => {
    expect(() => loadEnv({ REDIS_SENTINELS: '10.0.0.1:26379,10.0.0.2:99999' })).toThrow(
      /REDIS_SENTINELS: "10.0.0.2:99999": the port must be a number from 1 to 65535/,
    );
  });

  it('takes a good list with the master name and both passwords', () => {
    const env = loadEnv({
      REDIS_SENTINELS: '10.0.0.1:26379,10.0.0.2:26379,10.0.0.3',
      REDIS_MASTER_NAME: 'prod',
      REDIS_PASSWORD: 'pw',
      REDIS_SENTINEL_PASSWORD: 'spw',
    });
    const o = redisOptions(env);
    expect(o).toMatchObject({
      name: 'prod',
      password: 'pw',
      sentinelPassword: 'spw',
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '10.0.0.2', port: 26379 },
        { host: '10.0.0.3', port: 26379 },
      ],
    });
    // Sentinel mode: no fixed server from the default REDIS_URL.
    expect(o.host).toBeUndefined();
    // BullMQ's connections follow the same sentinels, with the same passwords.
    expect(bullConnection(o)).toMatchObject({
      name: 'prod',
      password: 'pw',
      sentinelPassword: 'spw',
      sentinels: o.sentinels,
      maxRetriesPerRequest: null,
    });
  });
});

describe('redisOptions with one server', () => {
  it('reads the URL, and REDIS_PASSWORD wins over the URL password', () => {
    expect(redisOptions(loadEnv({ REDIS_URL: 'rediss://u:p%40ss@host:6380/2' }))).toMatchObject({
      host: 'host',
      port: 6380,
      db: 2,
      username: 'u',
      password: 'p@ss',
      tls: {},
    });
    expect(redisOptions(loadEnv({ REDIS_URL: 'redis://:old@h', REDIS_PASSWORD: 'new' }))).toMatchObject({
      host: 'h',
      port: 6379,
      password: 'new',
    });
  });
});
