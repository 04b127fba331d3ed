import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { buildTestImage } from '@thaw/runtime/testimages';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  deployFunction,
  type Platform,
  type Service,
  startNats,
  startPlatform,
  startRedis,
  startWorkerHost,
  uploadImage,
  type WorkerHost,
} from '../src/index.js';

const rt = scratchRuntimeOptions('async');
let nats: Service;
let redis: Service;
let redisDir: string;
let platform: Platform;
let gateway: string;
let worker: WorkerHost;

interface Call {
  callId: string;
  status: string;
  attempts: number;
  maxAttempts: number;
  startedAt?: string;
  finishedAt?: string;
  response?: { status: number; body: string };
  error?: string;
}

beforeAll(async () => {
  // On every address: the worker below runs in a network namespace of its own.
  nats = await startNats({ listen: '0.0.0.0' });
  redisDir = await mkdtemp(join(tmpdir(), 'thaw-asyncredis-'));
  redis = await startRedis({ dataDir: redisDir });
  platform = await startPlatform({
    natsUrl: nats.url,
    redisUrl: redis.url,
    gatewayPort: 0,
    prefix: `as${process.pid}`,
    logs: 'buffer',
    // The worker is a host of its own (startWorkerHost), so that a test can kill and restart it.
    worker: false,
    // A call held by a gateway that died is taken over 2 s later (30 s by default).
    // The callback test's receiver listens on loopback.
    gatewayEnv: { ASYNC_LOCK_MS: '2000', ASYNC_CALLBACK_PRIVATE: 'allow' },
  });
  gateway = platform.gatewayUrl;
  worker = await startWorkerHost({
    natsPort: Number(new URL(nats.url).port),
    prefix: `as${process.pid}`,
    workerId: 'async-worker',
  });
  const image = await buildTestImage('node-hello', 'oci', join(rt.stateDir, 'archives'));
  const { digest } = await uploadImage(gateway, image.path, platform.token);
  await deployFunction(
    gateway,
    {
      name: 'job',
      image: digest,
      asyncConcurrency: 2,
      asyncAttempts: 3,
      maxInstances: 4,
      timeoutMs: 10_000,
    },
    platform.token,
  );
}, 180_000);

afterAll(async () => {
  await platform?.close();
  await worker?.close();
  await redis?.close();
  await nats?.close();
  await rm(redisDir, { recursive: true, force: true });
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
});

async function enqueue(path: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await platform.fetch(`${gateway}/async/job${path}`, {
    method: 'POST',
    body: 'payload',
    headers,
  });
  expect(res.status).toBe(202);
  const body = (await res.json()) as { callId: string; status: string };
  expect(body.status).toBe('queued');
  expect(res.headers.get('location')).toBe(`/v1/calls/${body.callId}`);
  return body.callId;
}

async function settled(callId: string, timeoutMs = 30_000): Promise<Call> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await platform.fetch(`${gateway}/v1/calls/${callId}`).catch(() => undefined);
    if (res?.status === 200) {
      const call = (await res.json()) as Call;
      if (call.status === 'succeeded' || call.status === 'dead') return call;
    }
    if (Date.now() > deadline) throw new Error(`call ${callId} did not settle`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const bodyOf = (c: Call) => JSON.parse(Buffer.from(c.response?.body ?? '', 'base64').toString()) as unknown;

describe('async invocations', () => {
  it('answers 202 with a call id and Location; the call runs and its answer is kept', async () => {
    const id = await enqueue('/sleep?ms=50');
    const call = await settled(id);
    expect(call).toMatchObject({ status: 'succeeded', response: { status: 200 } });
    expect(bodyOf(call)).toEqual({ slept: 50 });
  }, 60_000);

  it('runs at most asyncConcurrency calls of a function at once', async () => {
    const ids = await Promise.all(Array.from({ length: 6 }, () => enqueue('/sleep?ms=400')));
    const calls = await Promise.all(ids.map((id) => settled(id)));
    expect(calls.map((c) => c.status)).toEqual(calls.map(() => 'succeeded'));
    const spans = calls.map((c) => [Date.parse(c.startedAt ?? ''), Date.parse(c.finishedAt ?? '')] as const);
    const most = Math.max(...spans.map(([s]) => spans.filter(([a, b]) => a <= s && s < b).length));
    expect(most).toBeLessThanOrEqual(2);
  }, 60_000);

  it('retries 5xx answers with backoff until one succeeds', async () => {
    const call = await settled(await enqueue('/flaky?key=twice&fails=2'));
    expect(call).toMatchObject({ status: 'succeeded', response: { status: 200 } });
    expect(bodyOf(call)).toEqual({ key: 'twice', call: 3 });
  }, 60_000);

  it('marks a call dead after asyncAttempts tries, keeping the last answer', async () => {
    const call = await settled(await enqueue('/flaky?key=always&fails=99'));
    expect(call).toMatchObject({ status: 'dead', attempts: 3, maxAttempts: 3, response: { status: 503 } });
    expect(call.error).toMatch(/answered 503/);
    expect(bodyOf(call)).toEqual({ key: 'always', call: 3 });
  }, 60_000);

  it("posts the function's answer to X-Callback-Url", async () => {
    let got: { headers: IncomingHttpHeaders; body: string } | undefined;
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        got = { headers: req.headers, body };
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const id = await enqueue('/sleep?ms=10', { 'x-callback-url': `http://127.0.0.1:${port}/done` });
      const deadline = Date.now() + 10_000;
      while (!got && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(got?.headers['x-thaw-call-id']).toBe(id);
      expect(got?.headers['x-thaw-call-status']).toBe('succeeded');
      expect(got?.headers['x-thaw-function-status']).toBe('200');
      expect(JSON.parse(got?.body ?? '')).toEqual({ slept: 10 });
    } finally {
      server.close();
    }
  }, 30_000);

  it('refuses unknown functions, unknown calls and bad callback URLs with catalogue errors', async () => {
    const fn = await platform.fetch(`${gateway}/async/nosuch/x`, { method: 'POST' });
    expect(fn.status).toBe(404);
    expect(await fn.json()).toMatchObject({ error: { code: 'FUNCTION_NOT_FOUND' } });
    const call = await platform.fetch(`${gateway}/v1/calls/job.00000000-0000-0000-0000-000000000000`);
    expect(call.status).toBe(404);
    expect(await call.json()).toMatchObject({ error: { code: 'CALL_NOT_FOUND' } });
    expect((await platform.fetch(`${gateway}/v1/calls/garbage`)).status).toBe(404);
    const cb = await platform.fetch(`${gateway}/async/job/x`, {
      method: 'POST',
      headers: { 'x-callback-url': 'file:///etc/passwd' },
    });
    expect(cb.status).toBe(400);
    expect(await cb.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
  });

  it('retries calls whose worker was killed under them, once a worker is back', async () => {
    const ids = await Promise.all(Array.from({ length: 2 }, () => enqueue('/sleep?ms=1500')));
    await new Promise((r) => setTimeout(r, 600)); // both running in the worker's containers
    await worker.kill();
    await new Promise((r) => setTimeout(r, 500));
    await worker.start(); // reclaims what the killed one left, takes the function on again
    const calls = await Promise.all(ids.map((id) => settled(id, 60_000)));
    expect(calls.map((c) => c.status)).toEqual(['succeeded', 'succeeded']);
    // The first try of each failed with its worker (WORKER_LOST): the answer is a later try's.
    for (const c of calls) expect(c.attempts).toBeGreaterThanOrEqual(2);
    for (const c of calls) expect(bodyOf(c)).toEqual({ slept: 1500 });
  }, 90_000);

  it('loses no call when the gateway holding them is killed and Redis restarts', async () => {
    const ids = await Promise.all(Array.from({ length: 4 }, () => enqueue('/sleep?ms=1500')));
    await new Promise((r) => setTimeout(r, 400)); // two of them running in the first gateway
    platform.gateway.kill('SIGKILL');
    // Redis stops (its append-only file written) and comes back on the same port and data.
    const port = Number(new URL(redis.url).port);
    await redis.close();
    redis = await startRedis({ dataDir: redisDir, port });
    gateway = await platform.addGateway();
    const calls = await Promise.all(ids.map((id) => settled(id, 60_000)));
    expect(
      calls.map((c) => c.status),
      JSON.stringify(calls),
    ).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    for (const c of calls) expect(c.response?.body, JSON.stringify(c)).toBeTruthy();
    for (const c of calls) expect(bodyOf(c)).toEqual({ slept: 1500 });
  }, 90_000);
});
