import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  deployFunction,
  type Platform,
  type Service,
  startPlatform,
  startRedis,
  uploadImage,
  workerEnvFor,
} from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { buildTestImage } from '@thaw/runtime/testimages';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const rt = scratchRuntimeOptions('ddn');
let platform: Platform;
let redis: Service;
let redisDir: string;
let digest: string;
/** How long the gateway's cache counts a record as fresh (CACHE_TTL_MS in gateway/src/store/functions.ts). */
const CACHE_TTL_MS = 5000;

beforeAll(async () => {
  redisDir = await mkdtemp(join(tmpdir(), 'thaw-ddn-redis-'));
  redis = await startRedis({ dataDir: redisDir });
  platform = await startPlatform({
    gatewayPort: 0,
    prefix: `ddn${process.pid}`,
    logs: 'buffer',
    redisUrl: redis.url,
    workerEnv: workerEnvFor(rt),
  });
  const image = await buildTestImage('busybox-httpd', 'oci', join(rt.stateDir, 'archives'));
  ({ digest } = await uploadImage(platform.gatewayUrl, image.path, platform.token));
  await deployFunction(platform.gatewayUrl, { name: 'known', image: digest }, platform.token);
}, 180_000);

afterAll(async () => {
  await platform?.close();
  await redis?.close();
  await rm(redisDir, { recursive: true, force: true });
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  code: string | null;
  retryAfter: string | null;
  body: string;
  ms: number;
}

async function call(path: string, init?: RequestInit): Promise<Answer> {
  const t0 = Date.now();
  const res = await platform.fetch(`${platform.gatewayUrl}${path}`, init);
  const body = await res.text();
  return {
    status: res.status,
    code: res.headers.get('x-thaw-error'),
    retryAfter: res.headers.get('retry-after'),
    body,
    ms: Date.now() - t0,
  };
}

const json = (method: string, body: unknown): RequestInit => ({
  method,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

describe('Redis down', () => {
  it('serves a function called before from its cached record, answers the rest 503 STORE_UNAVAILABLE at once, and recovers', async () => {
    const first = await call('/fn/known/');
    expect(first.status, first.body).toBe(200);
    expect(first.body).toContain('hello from busybox');

    const port = Number(new URL(redis.url).port);
    await redis.close();
    const down = Date.now();

    // Everything that needs Redis: a function this gateway never saw, the admin API, async calls.
    const needRedis: [string, RequestInit | undefined][] = [
      ['/fn/never-seen/', undefined],
      ['/v1/functions', json('POST', { name: 'other', image: digest })],
      ['/v1/functions/known', json('PUT', { image: digest })],
      ['/v1/functions/known', { method: 'DELETE' }],
      ['/v1/functions/known', undefined],
      ['/v1/functions', undefined],
      ['/async/known/', { method: 'POST', body: 'x' }],
      ['/v1/calls/known.1', undefined],
    ];
    for (const [path, init] of needRedis) {
      const a = await call(path, init);
      const what = `${init?.method ?? 'GET'} ${path}: ${a.body}`;
      expect(a.status, what).toBe(503);
      expect(a.code, what).toBe('STORE_UNAVAILABLE');
      expect(JSON.parse(a.body)).toMatchObject({ error: { code: 'STORE_UNAVAILABLE' } });
      expect(Number(a.retryAfter), what).toBeGreaterThan(0);
      // Well under ioredis's own give-up time (about 2 s and more).
      expect(a.ms, what).toBeLessThan(1500);
    }

    // The function called before keeps being served, past the time its cached record counts as
    // fresh (and although a DELETE was tried above).
    let served = 0;
    while (Date.now() - down < CACHE_TTL_MS + 1500) {
      const a = await call('/fn/known/');
      expect(a.status, a.body).toBe(200);
      expect(a.body).toContain('hello from busybox');
      served++;
      await sleep(250);
    }
    expect(served).toBeGreaterThan(5);

    // Redis back on the same port with the same data: the gateway reconnects by itself.
    redis = await startRedis({ dataDir: redisDir, port });
    const deadline = Date.now() + 30_000;
    let back = await call('/v1/functions/known');
    while (back.status !== 200 && Date.now() < deadline) {
      await sleep(200);
      back = await call('/v1/functions/known');
    }
    expect(back.status, back.body).toBe(200);
    expect(JSON.parse(back.body)).toMatchObject({ name: 'known', image: digest });
    const unknown = await call('/fn/never-seen/');
    expect(unknown.status).toBe(404);
    expect(unknown.code).toBe('FUNCTION_NOT_FOUND');
    expect((await call('/fn/known/')).status).toBe(200);
  });
});
