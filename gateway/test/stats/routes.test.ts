import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { deployFunction, type Platform, startPlatform, uploadImage, workerEnvFor } from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { createLogger } from '@thaw/shared';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/index.js';
import type { StatsAnswer, StatsPoint } from '../../src/stats/query.js';
import { echoImage } from '../lambda/function-image.js';

// GET /v1/stats over two gateway apps on one real NATS, Redis and worker: calls through both
// are summed on either, a function answering 500 counts errors, the first call is a cold start.
const rt = scratchRuntimeOptions('stb');
const prefix = `stb${process.pid}`;
const FN = 'stats-echo';
let platform: Platform;
const apps: { app: FastifyInstance; nc: NatsConnection; redis: Redis }[] = [];

async function gateway(): Promise<FastifyInstance> {
  const nc = await connect({ servers: platform.natsUrl });
  const redis = new Redis(platform.redisUrl);
  const app = await buildApp({
    nc,
    redis,
    logger: createLogger('stats-routes-test', 'silent'),
    config: {
      THAW_PREFIX: prefix,
      THAW_ADMIN_TOKEN: platform.token,
      PLACE_TIMEOUT_MS: 60_000,
      MAX_BODY_BYTES: 64 * 1024,
      MAX_IMAGE_BYTES: 1024 * 1024,
    },
  });
  await app.ready();
  apps.push({ app, nc, redis });
  return app;
}

const auth = () => ({ authorization: `Bearer ${platform.token}` });
const call = (app: FastifyInstance, event: unknown) =>
  app.inject({ method: 'POST', url: `/fn/${FN}/`, payload: JSON.stringify(event), headers: auth() });
const stats = async (app: FastifyInstance, query: string) => {
  const res = await app.inject({ method: 'GET', url: `/v1/stats?${query}`, headers: auth() });
  return { status: res.statusCode, body: res.json() as StatsAnswer };
};
const sum = (points: StatsPoint[], f: 'calls' | 'errors' | 'cold') => points.reduce((n, p) => n + p[f], 0);

beforeAll(async () => {
  platform = await startPlatform({ gatewayPort: 0, prefix, logs: 'buffer', workerEnv: workerEnvFor(rt) });
  const { digest } = await uploadImage(
    platform.gatewayUrl,
    await echoImage(rt.stateDir, 'v1'),
    platform.token,
  );
  await deployFunction(platform.gatewayUrl, { name: FN, image: digest, memoryMiB: 128 }, platform.token);
  // A deploy starts an instance ahead of the first call: it goes, so that the first call is cold.
  const instances = async () => {
    const res = await platform.fetch(`${platform.gatewayUrl}/v1/functions/${FN}`);
    const view = (await res.json()) as { workers: { instances: unknown[] }[] };
    return view.workers.reduce((n, w) => n + w.instances.length, 0);
  };
  for (let i = 0; i < 100 && (await instances()) === 0; i++) await sleep(100);
  const zero = await platform.fetch(`${platform.gatewayUrl}/v1/functions/${FN}/scale-to-zero`, {
    method: 'POST',
  });
  expect(zero.status).toBe(202);
  for (let i = 0; i < 100 && (await instances()) > 0; i++) await sleep(200);
  expect(await instances()).toBe(0);
}, 180_000);

afterAll(async () => {
  for (const { app, nc, redis } of apps) {
    await app.close();
    await nc.close();
    redis.disconnect();
  }
  await platform?.close();
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
});

describe('GET /v1/stats', () => {
  it('sums the calls made through two gateways, with errors, the cold start and sane quantiles', async () => {
    const [a, b] = [await gateway(), await gateway()];
    // The first call starts the instance: the cold start.
    expect((await call(a, { n: 0 })).statusCode).toBe(200);
    for (let i = 1; i <= 6; i++) expect((await call(i % 2 ? a : b, { n: i })).statusCode).toBe(200);
    expect((await call(b, { sleepMs: 200 })).statusCode).toBe(200);
    for (const app of [a, b]) expect((await call(app, { fail: true })).statusCode).toBe(500);

    // B's counters reach Redis with its next flush (every 2 s); A writes its own before reading.
    let answer: StatsAnswer | undefined;
    for (let i = 0; i < 30; i++) {
      const got = await stats(a, `since=5m&function=${FN},no-such-fn`);
      expect(got.status).toBe(200);
      answer = got.body;
      if (sum(answer.functions[FN] ?? [], 'calls') >= 10) break;
      await sleep(200);
    }
    const points = answer?.functions[FN] ?? [];
    expect(Object.keys(answer?.functions ?? {})).toEqual([FN]);
    expect(answer?.bucketSeconds).toBe(10);
    expect(points.length).toBeGreaterThanOrEqual(30);
    expect(points.at(-1)?.t).toBe(
      new Date(Date.parse(answer?.to ?? '') - (Date.parse(answer?.to ?? '') % 10_000)).toISOString(),
    );
    expect(sum(points, 'calls')).toBe(10);
    expect(sum(points, 'errors')).toBe(2);
    expect(sum(points, 'cold')).toBe(1);
    for (const p of points.filter((p) => p.calls > 0)) {
      expect(p.p50Ms).toBeGreaterThan(0);
      expect(p.p99Ms).toBeGreaterThanOrEqual(p.p50Ms ?? 0);
      expect(p.ratePerSec).toBeGreaterThan(0);
    }
    // The warm calls take a few ms: the median of the busiest bucket is well under the 200 ms call.
    const busiest = [...points].sort((x, y) => y.calls - x.calls)[0];
    expect(busiest?.p50Ms).toBeLessThan(150);
    const none = points.find((p) => p.calls === 0);
    if (none) expect(none).toMatchObject({ errors: 0, cold: 0, ratePerSec: 0, p50Ms: null, p99Ms: null });

    // B answers the same sums.
    const fromB = await stats(b, 'since=5m');
    expect(sum(fromB.body.functions[FN] ?? [], 'calls')).toBe(10);
  });

  it('refuses a since beyond an hour, in the future, unreadable or repeated, more than 100 names, and needs the admin token', async () => {
    const app = apps[0]?.app ?? (await gateway());
    for (const since of ['2h', '61m', 'soon', new Date(Date.now() + 60_000).toISOString()]) {
      const res = await stats(app, `since=${encodeURIComponent(since)}`);
      expect(res.status).toBe(400);
      expect((res.body as unknown as { error: { code: string } }).error.code).toBe('VALIDATION_FAILED');
    }
    expect((await stats(app, 'since=1h')).status).toBe(200);
    // Repeated: `function` adds up (as a comma list would), a second `since` is refused.
    const both = await stats(app, `function=${FN}&function=no-such-fn,${FN}`);
    expect(both.status).toBe(200);
    expect(Object.keys(both.body.functions)).toEqual([FN]);
    const twice = await stats(app, 'since=5m&since=1m');
    expect(twice.status).toBe(400);
    expect((twice.body as unknown as { error: { code: string } }).error.code).toBe('VALIDATION_FAILED');
    // At most 100 names per request: each costs a Redis read per bucket.
    const names = Array.from({ length: 101 }, (_, i) => `f${i}`);
    const many = await stats(app, `function=${names.join(',')}`);
    expect(many.status).toBe(400);
    const error = (many.body as unknown as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.message).toMatch(/at most 100 names/);
    expect((await stats(app, `function=${names.slice(1).join('&function=')}`)).status).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/v1/stats' })).statusCode).toBe(401);
  });
});
