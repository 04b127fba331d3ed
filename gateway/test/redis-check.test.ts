import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { type Service, startNats, startRedis } from '@thaw/devkit';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { infoField, judgeRedisSettings, RedisAuthError, readRedisSettings } from '../src/redis-check.js';

describe('judgeRedisSettings', () => {
  it('passes noeviction with the append-only file, silently', () => {
    expect(judgeRedisSettings({ maxmemoryPolicy: 'noeviction', aof: true })).toEqual({
      ok: true,
      warnings: [],
    });
  });

  it('warns, and goes on, without the append-only file', () => {
    const c = judgeRedisSettings({ maxmemoryPolicy: 'noeviction', aof: false });
    expect(c.ok).toBe(true);
    expect(c.ok && c.warnings.join()).toMatch(/appendonly no.*Set "appendonly yes"/);
  });

  it.each(['allkeys-lru', 'volatile-lru', 'allkeys-random', 'volatile-ttl'])('refuses %s', (policy) => {
    const c = judgeRedisSettings({ maxmemoryPolicy: policy, aof: true });
    expect(c).toMatchObject({ ok: false });
    expect(!c.ok && c.problem).toContain(`maxmemory-policy is "${policy}"`);
    expect(!c.ok && c.problem).toContain('noeviction');
  });

  it('reads INFO fields, with CRLF line ends', () => {
    expect(infoField('# Memory\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\n', 'maxmemory_policy')).toBe(
      'noeviction',
    );
    expect(infoField('maxmemory:0', 'maxmemory_policy')).toBeUndefined();
  });
});

describe('the start-up check against a real redis-server', () => {
  const PASSWORD = 'redis-check-test-pw';
  let redis: Service;
  let admin: Redis;
  const clients: Redis[] = [];
  const client = (o: { password?: string; username?: string } = {}) => {
    const c = new Redis({
      port: Number(new URL(redis.url).port),
      maxRetriesPerRequest: 1,
      ...o,
    });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url);
    await admin.config('SET', 'requirepass', PASSWORD);
    await admin.auth(PASSWORD);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'appendonly', 'yes');
  });
  afterAll(async () => {
    admin?.disconnect();
    await redis?.close();
  });

  it("reads the server's policy and append-only setting as they change", async () => {
    expect(await readRedisSettings(client({ password: PASSWORD }))).toEqual({
      settings: { maxmemoryPolicy: 'noeviction', aof: true },
    });
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    await admin.config('SET', 'appendonly', 'no');
    expect(await readRedisSettings(client({ password: PASSWORD }))).toEqual({
      settings: { maxmemoryPolicy: 'allkeys-lru', aof: false },
    });
  });

  it('says REDIS_PASSWORD is wrong, or missing, at once', async () => {
    for (const c of [client({ password: 'wrong' }), client()]) {
      const t0 = Date.now();
      const err = await readRedisSettings(c).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RedisAuthError);
      expect((err as Error).message).toMatch(
        /^Redis refused the password: check REDIS_PASSWORD \((WRONGPASS|NOAUTH)/,
      );
      expect(Date.now() - t0).toBeLessThan(2000);
    }
  });

  it('leaves the settings unread, without failing, when the server forbids INFO and CONFIG (managed Redis)', async () => {
    await admin.acl('SETUSER', 'managed', 'on', '>managed-pw', '~*', '&*', '+@all', '-info', '-config');
    try {
      const read = await readRedisSettings(client({ username: 'managed', password: 'managed-pw' }));
      expect(read.settings).toBeUndefined();
      expect(read.unread).toMatch(/INFO refused \(NOPERM/);
    } finally {
      await admin.acl('DELUSER', 'managed');
    }
  });

  it('gives up waiting after its timeout when Redis does not answer, and lets the start go on', async () => {
    const away = new Redis({ port: 1, maxRetriesPerRequest: null, retryStrategy: () => 50 });
    away.on('error', () => undefined);
    clients.push(away);
    expect(await readRedisSettings(away, 300)).toEqual({ unread: 'Redis did not answer within 300 ms' });
  });

  describe('the gateway process', () => {
    let nats: Service;
    beforeAll(async () => {
      nats = await startNats();
    });
    afterAll(async () => {
      await nats?.close();
    });

    async function start(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
      const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
      const child = spawn(process.execPath, [main], {
        env: {
          ...process.env,
          NATS_URL: nats.url,
          REDIS_URL: redis.url,
          PORT: '0',
          HOST: '127.0.0.1',
          THAW_ADMIN_TOKEN: 'redis-check-test-token-0123456789',
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      });
      let output = '';
      child.stdout?.on('data', (d: Buffer) => (output += d));
      child.stderr?.on('data', (d: Buffer) => (output += d));
      // A gateway that got past its checks says "ready": stop it, it was not meant to start.
      child.once('message', () => child.kill('SIGTERM'));
      const [code] = (await once(child, 'exit')) as [number | null];
      return { code, output };
    }

    it('refuses to start on a wrong password, naming REDIS_PASSWORD', async () => {
      const { code, output } = await start({ REDIS_PASSWORD: 'wrong' });
      expect(code).toBe(1);
      expect(output).toContain('Redis refused the password: check REDIS_PASSWORD (WRONGPASS');
    });

    it('refuses to start on an evicting Redis, and starts with a warning without AOF', async () => {
      await admin.config('SET', 'maxmemory-policy', 'volatile-lru');
      const evicting = await start({ REDIS_PASSWORD: PASSWORD });
      expect(evicting.code).toBe(1);
      expect(evicting.output).toContain(`maxmemory-policy is \\"volatile-lru\\"`);

      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      await admin.config('SET', 'appendonly', 'no');
      const noAof = await start({ REDIS_PASSWORD: PASSWORD });
      // Started (and then stopped by us with SIGTERM): exit 0 after its drain.
      expect(noAof.code, noAof.output).toBe(0);
      expect(noAof.output).toContain('without its append-only file');
    });
  });
});
