import { type Service, startRedis } from '@thaw/devkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessKeys } from '../../src/lambda/keys.js';

// Access keys on a real redis-server: what a dump of Redis shows of their secrets.
let srv: Service;
let redis: Redis;
const prefix = `lkeys${process.pid}`;

beforeAll(async () => {
  srv = await startRedis();
  redis = new Redis(srv.url);
});

afterAll(async () => {
  redis?.disconnect();
  await srv?.close();
});

/** Every value under the prefix, as a dump would show them. */
async function dump(): Promise<string> {
  const all = await redis.hgetall(`${prefix}:lambda:access-keys`);
  return JSON.stringify(all);
}

describe('access keys', () => {
  it('with a master key: the secret is sealed in Redis, read back with the key, unusable without it', async () => {
    const keys = new AccessKeys({ redis, prefix, masterKey: 'master-key-kept-outside-redis' });
    const issued = await keys.issue('ci');
    expect(issued.accessKeyId).toMatch(/^TKIA[A-Z2-7]{16}$/);
    expect(await dump()).not.toContain(issued.secretAccessKey);
    expect(await keys.secretOf(issued.accessKeyId)).toBe(issued.secretAccessKey);
    // Another master key (or none) cannot open it.
    expect(
      await new AccessKeys({ redis, prefix, masterKey: 'another' }).secretOf(issued.accessKeyId),
    ).toBeUndefined();
    expect(await new AccessKeys({ redis, prefix }).secretOf(issued.accessKeyId)).toBeUndefined();
    // Whoever can write to Redis can mint no key: a sealed secret moved to another id does not
    // open, and a secret written in plain counts for nothing while a master key is set.
    const stored = (await redis.hget(`${prefix}:lambda:access-keys`, issued.accessKeyId)) ?? '';
    await redis.hset(`${prefix}:lambda:access-keys`, 'TKIAMOVEDMOVEDMOVEDM', stored);
    expect(await keys.secretOf('TKIAMOVEDMOVEDMOVEDM')).toBeUndefined();
    const plain = JSON.stringify({ ...JSON.parse(stored), secret: 'plain:minted' });
    await redis.hset(`${prefix}:lambda:access-keys`, 'TKIAPLAINPLAINPLAINP', plain);
    expect(await keys.secretOf('TKIAPLAINPLAINPLAINP')).toBeUndefined();
    await redis.hdel(`${prefix}:lambda:access-keys`, 'TKIAMOVEDMOVEDMOVEDM', 'TKIAPLAINPLAINPLAINP');
    expect(await keys.list()).toEqual([
      { accessKeyId: issued.accessKeyId, createdAt: issued.createdAt, description: 'ci' },
    ]);
    expect(await keys.revoke(issued.accessKeyId)).toBe(true);
    expect(await keys.revoke(issued.accessKeyId)).toBe(false);
    expect(await keys.secretOf(issued.accessKeyId)).toBeUndefined();
  });

  it('without one: kept as issued (documented), listed without it', async () => {
    const keys = new AccessKeys({ redis, prefix });
    const issued = await keys.issue();
    expect(await dump()).toContain(issued.secretAccessKey);
    expect(JSON.stringify(await keys.list())).not.toContain(issued.secretAccessKey);
    expect(await keys.secretOf(issued.accessKeyId)).toBe(issued.secretAccessKey);
    await keys.revoke(issued.accessKeyId);
    expect(await redis.exists(`${prefix}:lambda:access-keys`)).toBe(0);
  });
});
