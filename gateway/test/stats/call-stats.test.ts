import { setTimeout as sleep } from 'node:timers/promises';
import { type Service, startRedis } from '@thaw/devkit';
import { createLogger, FunctionRecord, ThawError } from '@thaw/shared';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Answer, Envelope, Invoke } from '../../src/calls/types.js';
import { CallStats, type CallStatsOptions, MAX_FUNCTIONS } from '../../src/stats/call-stats.js';
import type { StatsAnswer } from '../../src/stats/query.js';
import { CutProxy } from './cut-proxy.js';

// CallStats on a real redis-server: two of them (two gateways) add up, and counters a flush
// could not write (Redis stopped) are written by a later one. The invoke it wraps is a stand-in:
// the route test (routes.test.ts) runs the real one against a worker.
const prefix = `st${process.pid}`;
const log = createLogger('stats-test', 'silent');
let server: Service;
const clients: Redis[] = [];

const DIGEST = `sha256:${'0'.repeat(64)}`;
const fn = (name: string) =>
  FunctionRecord.parse({
    name,
    image: DIGEST,
    imageDigest: DIGEST,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  });
const env = { method: 'GET', path: '/', headers: {}, body: Buffer.alloc(0) } as unknown as Envelope;
/** Answers `status` after `ms`; status 0 throws a ThawError. */
const answering =
  (status: number, ms: number, cold = false): Invoke =>
  async () => {
    await sleep(ms);
    if (status === 0) throw new ThawError('NO_WORKER', 'none');
    const a: Answer = { status, headers: {}, body: Buffer.alloc(0) };
    if (cold) a.cold = true;
    return a;
  };

function stats(url = server.url, more: Partial<CallStatsOptions> = {}): CallStats {
  const redis = new Redis(url);
  clients.push(redis);
  return new CallStats({ redis, prefix, log, flushEveryMs: 0, ...more });
}

async function ready(redis: Redis): Promise<void> {
  for (let i = 0; i < 100 && redis.status !== 'ready'; i++) await sleep(50);
  expect(redis.status).toBe('ready');
}

const total = (a: StatsAnswer, name: string, field: 'calls' | 'errors' | 'cold') =>
  (a.functions[name] ?? []).reduce((n, p) => n + p[field], 0);

beforeAll(async () => {
  server = await startRedis();
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await server?.close();
});

describe('CallStats on Redis', () => {
  it('sums the calls of two gateways, with errors, cold starts and latency quantiles', async () => {
    const [a, b] = [stats(), stats()];
    const ok = a.observe(answering(200, 5, true));
    const fail = b.observe(answering(500, 1));
    const thrown = b.observe(answering(0, 1));
    const slow = b.observe(answering(200, 60));
    await Promise.all([ok(fn('s-one'), env), ok(fn('s-one'), env), fail(fn('s-one'), env)]);
    await expect(thrown(fn('s-one'), env)).rejects.toThrow(ThawError);
    await slow(fn('s-two'), env);
    await b.flush();
    const since = Date.now() - 60_000;
    const all = await a.query(since, undefined);
    expect(Object.keys(all.functions).sort()).toEqual(['s-one', 's-two']);
    expect(total(all, 's-one', 'calls')).toBe(4);
    expect(total(all, 's-one', 'errors')).toBe(2);
    expect(total(all, 's-one', 'cold')).toBe(2);
    const two = (all.functions['s-two'] ?? []).find((p) => p.calls > 0);
    expect(two?.p50Ms).toBeGreaterThan(50);
    expect(two?.p50Ms).toBeLessThan(200);
    // Every bucket of the minute, oldest first, 10 s apart.
    const times = (all.functions['s-one'] ?? []).map((p) => Date.parse(p.t));
    expect(times.length).toBeGreaterThanOrEqual(6);
    for (let i = 1; i < times.length; i++) expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBe(10_000);
    const narrowed = await b.query(since, ['s-two', 'nope']);
    expect(Object.keys(narrowed.functions)).toEqual(['s-two']);
    await Promise.all([a.close(), b.close()]);
  });

  it('keeps the counters a flush could not write and writes them once Redis is back', async () => {
    const a = stats();
    const ok = a.observe(answering(200, 1));
    await ok(fn('s-out'), env);
    await ok(fn('s-out'), env);
    const port = Number(new URL(server.url).port);
    await server.close();
    await a.flush();
    await ok(fn('s-out'), env);
    await a.flush();
    server = await startRedis({ port });
    const redis = clients.at(-1) as Redis;
    for (let i = 0; i < 100 && redis.status !== 'ready'; i++) await sleep(100);
    const back = await a.query(Date.now() - 60_000, ['s-out']);
    expect(total(back, 's-out', 'calls')).toBe(3);
    await a.close();
  });

  // The reply to a flush lost after Redis applied it. With the connection: ioredis resends the
  // script on reconnecting (autoResendUnfulfilledCommands, its default). As an error: the flush
  // fails and the next one retries the batch. Either way the calls are counted once.
  for (const how of ['drop', 'error'] as const) {
    it(`counts a batch once when its reply is lost after Redis applied it (${how})`, async () => {
      const { hostname, port } = new URL(server.url);
      const proxy = new CutProxy({ host: hostname, port: Number(port) }, ':stats:flush:', how);
      try {
        const a = stats(`redis://127.0.0.1:${await proxy.listen()}`);
        const redis = clients.at(-1) as Redis;
        await ready(redis);
        const name = `s-cut-${how}`;
        const ok = a.observe(answering(200, 0));
        for (let i = 0; i < 100; i++) await ok(fn(name), env);
        proxy.arm();
        await a.flush();
        expect(proxy.cuts).toBe(1);
        await ready(redis);
        await a.flush();
        const back = await a.query(Date.now() - 60_000, [name]);
        expect(total(back, name, 'calls')).toBe(100);
        await a.close();
      } finally {
        await proxy.close();
      }
    });
  }

  it('writes the rest of a batch once when Redis refuses one of its keys', async () => {
    const a = stats();
    const direct = clients.at(-1) as Redis;
    await ready(direct);
    // A key of another type where the next buckets' counters of `s-bad` go.
    const now = Date.now();
    const bucket = now - (now % 10_000);
    for (const t of [bucket, bucket + 10_000]) await direct.set(`${prefix}:stats:${t / 1000}:s-bad`, 'x');
    const ok = a.observe(answering(200, 0));
    await Promise.all([ok(fn('s-bad'), env), ok(fn('s-good'), env), ok(fn('s-good'), env)]);
    await a.flush();
    await a.flush();
    const back = await a.query(Date.now() - 60_000, ['s-good', 's-bad']);
    expect(total(back, 's-good', 'calls')).toBe(2);
    expect(total(back, 's-bad', 'calls')).toBe(0);
    await a.close();
  });

  it(`answers the ${MAX_FUNCTIONS} functions called last when no names are given`, async () => {
    // Its own prefix: the other tests' functions stay out of the count.
    let wall = Date.now() - 30_000;
    const a = stats(server.url, {
      prefix: `${prefix}-many`,
      clock: { now: () => performance.now(), wall: () => wall },
    });
    const ok = a.observe(answering(200, 0));
    await ok(fn('s-earliest'), env);
    await a.flush();
    wall += 30_000;
    for (let i = 0; i < MAX_FUNCTIONS; i++) await ok(fn(`s-many-${i}`), env);
    const all = await a.query(wall - 60_000, undefined);
    expect(Object.keys(all.functions)).toHaveLength(MAX_FUNCTIONS);
    expect(all.functions['s-earliest']).toBeUndefined();
    // Named, it still answers.
    const named = await a.query(wall - 60_000, ['s-earliest']);
    expect(total(named, 's-earliest', 'calls')).toBe(1);
    await a.close();
  });
});
