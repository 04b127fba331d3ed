import { describe, expect, it } from 'vitest';
import { NatsEnv, natsConnectOptions, natsConnectProblem, natsServers } from '../src/nats-env.js';

describe('NATS settings', () => {
  it('reads a server list, blanks and spaces ignored', () => {
    expect(natsServers(' nats://a:4222, ,nats://b:4222 ,tls://c:4443')).toEqual([
      'nats://a:4222',
      'nats://b:4222',
      'tls://c:4443',
    ]);
  });

  it('gives credentials and TLS files only when set', () => {
    const bare = natsConnectOptions(NatsEnv.parse({}), 'gw');
    expect(bare).toMatchObject({ servers: ['nats://127.0.0.1:4222'], name: 'gw', maxReconnectAttempts: -1 });
    expect(bare).not.toHaveProperty('user');
    expect(bare).not.toHaveProperty('tls');
    const full = natsConnectOptions(
      NatsEnv.parse({
        NATS_URL: 'tls://a:4222,tls://b:4222',
        NATS_USER: 'gateway',
        NATS_PASSWORD: 'pw',
        NATS_TLS_CA: '/etc/thaw/ca.pem',
      }),
      'gw',
    );
    expect(full).toMatchObject({
      servers: ['tls://a:4222', 'tls://b:4222'],
      user: 'gateway',
      pass: 'pw',
      tls: { caFile: '/etc/thaw/ca.pem' },
    });
  });

  it('says which servers, which user and which settings to check when the first connection fails', () => {
    const env = NatsEnv.parse({ NATS_URL: 'nats://a:4222,nats://b:4222', NATS_USER: 'worker' });
    const auth = natsConnectProblem(new Error("'Authorization Violation'"), env);
    expect(auth).toBe(
      "cannot connect to NATS (nats://a:4222, nats://b:4222) as user worker: 'Authorization Violation'; check NATS_USER and NATS_PASSWORD (or NATS_TOKEN) against the servers’ users",
    );
    expect(natsConnectProblem(new Error('self-signed certificate'), env)).toMatch(/check NATS_TLS_CA/);
    expect(natsConnectProblem(new Error('CONNECTION_REFUSED'), NatsEnv.parse({}))).toBe(
      'cannot connect to NATS (nats://127.0.0.1:4222): CONNECTION_REFUSED; check NATS_URL and that a server listed there is running and reachable',
    );
  });
});
