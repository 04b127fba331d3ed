import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createThawClient,
  deployFunction,
  findTestResidue,
  isThawApiError,
  type Platform,
  type Service,
  startNats,
  startPlatform,
  startRedis,
  startWorkerHost,
  unwrap,
  uploadImage,
  type WorkerHost,
} from '@thaw/devkit';
import { Runtime, residueItems, scratchRuntimeOptions } from '@thaw/runtime';
import { buildTestImage } from '@thaw/runtime/testimages';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asyncFunctionImage } from './function-images.js';

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
  response?: { status: number; body: string; truncated: boolean };
  error?: string;
  callback?: { status: string; responseStatus?: number; tries?: number; reason?: string };
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
  // One call at a time, four tries, and answers of any size.
  const solo = await asyncFunctionImage(join(rt.stateDir, 'archives'));
  const { digest: soloDigest } = await uploadImage(gateway, solo.path, platform.token);
  await deployFunction(
    gateway,
    {
      name: 'solo',
      image: soloDigest,
      asyncConcurrency: 1,
      asyncAttempts: 4,
      maxInstances: 1,
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

async function enqueue(
  path: string,
  headers: Record<string, string> = {},
  fn = 'job',
  via = gateway,
): Promise<string> {
  const res = await platform.fetch(`${via}/async/${fn}${path}`, {
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

/** The generated client of the gateway the test talks to now (one test moves to another). */
const api = () => createThawClient({ baseUrl: gateway, token: platform.token });

async function read(callId: string): Promise<{ status: number; call?: Call; code?: string }> {
  try {
    return {
      status: 200,
      call: unwrap(await api().GET('/v1/calls/{callId}', { params: { path: { callId } } })),
    };
  } catch (err) {
    if (isThawApiError(err)) return { status: err.status, code: err.code };
    throw err;
  }
}

/** Polls the call until `done` holds for it (or throws at the deadline, naming what it saw). */
async function until(callId: string, done: (c: Call) => boolean, timeoutMs = 30_000): Promise<Call> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    // The gateway may be down for a moment (a test kills one): that is retried too.
    const res = await api()
      .GET('/v1/calls/{callId}', { params: { path: { callId } } })
      .catch((err: Error) => err);
    if (!(res instanceof Error) && res.data) {
      const call: Call = res.data;
      if (done(call)) return call;
      last = call;
    } else last = res instanceof Error ? res.message : res.response.status;
    if (Date.now() > deadline) throw new Error(`call ${callId}: still ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const settled = (callId: string, timeoutMs = 30_000) =>
  until(callId, (c) => c.status === 'succeeded' || c.status === 'dead', timeoutMs);

/** An HTTP server on loopback that keeps what is POSTed to it. */
async function receiver(): Promise<{
  url: string;
  got: { headers: IncomingHttpHeaders; body: string }[];
  close: () => Promise<void>;
}> {
  const got: { headers: IncomingHttpHeaders; body: string }[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/done`,
    got,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function waitUntil(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The most calls that ran at once, from their start and finish times. */
function mostAtOnce(calls: Call[]): number {
  const spans = calls.map((c) => [Date.parse(c.startedAt ?? ''), Date.parse(c.finishedAt ?? '')] as const);
  return Math.max(...spans.map(([s]) => spans.filter(([a, b]) => a <= s && s < b).length));
}

const MIB = 1024 * 1024;
/** A call whose kept answer was cut, read again after its function is deleted. */
let truncatedCall = '';

const bodyOf = (c: Call) => JSON.parse(Buffer.from(c.response?.body ?? '', 'base64').toString()) as unknown;

describe('async invocations', () => {
  it('answers 202 with a call id and Location; the call runs and its answer is kept', async () => {
    const id = await enqueue('/sleep?ms=50');
    const call = await settled(id);
    expect(call).toMatchObject({ status: 'succeeded', response: { status: 200, truncated: false } });
    expect(bodyOf(call)).toEqual({ slept: 50 });
  }, 60_000);

  it('retries 5xx answers with backoff until one succeeds', async () => {
    const call = await settled(await enqueue('/flaky?key=twice&fails=2'));
    expect(call).toMatchObject({ status: 'succeeded', response: { status: 200 } });
    expect(bodyOf(call)).toEqual({ key: 'twice', call: 3 });
  }, 60_000);

  it('waits 0.5 s, 1 s, 2 s between tries, as documented', async () => {
    const id = await enqueue('/fail?key=gaps', {}, 'solo');
    // Every try's start, read as it happens (a try is a few ms; the waits are 0.5 s and more).
    const starts = new Set<string>();
    const call = await until(id, (c) => {
      if (c.startedAt) starts.add(c.startedAt);
      return c.status === 'dead';
    });
    expect(call).toMatchObject({ status: 'dead', attempts: 4, maxAttempts: 4, response: { status: 503 } });
    expect(bodyOf(call)).toEqual({ key: 'gaps', try: 4 });
    const times = [...starts].map((t) => Date.parse(t));
    expect(times).toHaveLength(4);
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    // A gap is the try, then the wait, then the pick-up: never shorter than the wait, and on a
    // busy machine up to 1.5 s longer (a doubled base wait would still show in the third).
    const waits = [500, 1000, 2000];
    for (const [i, wait] of waits.entries()) {
      expect(gaps[i], `gap ${i + 1} of ${JSON.stringify(gaps)}`).toBeGreaterThanOrEqual(wait - 5);
      expect(gaps[i], `gap ${i + 1} of ${JSON.stringify(gaps)}`).toBeLessThan(wait + 1500);
    }
  }, 60_000);

  it('marks a call dead after asyncAttempts tries, keeping the last answer, and posts it to the callback', async () => {
    const hook = await receiver();
    try {
      const id = await enqueue('/flaky?key=always&fails=99', { 'x-callback-url': hook.url });
      const call = await settled(id);
      expect(call).toMatchObject({ status: 'dead', attempts: 3, maxAttempts: 3, response: { status: 503 } });
      expect(call.error).toMatch(/answered 503/);
      expect(bodyOf(call)).toEqual({ key: 'always', call: 3 });
      await waitUntil('the callback arrives', () => hook.got.length > 0);
      // One callback, once the call is dead: none for the failed tries before.
      await new Promise((r) => setTimeout(r, 500));
      expect(hook.got).toHaveLength(1);
      expect(hook.got[0]?.headers).toMatchObject({
        'x-thaw-call-id': id,
        'x-thaw-call-status': 'dead',
        'x-thaw-function-status': '503',
      });
      expect(JSON.parse(hook.got[0]?.body ?? '')).toEqual({ key: 'always', call: 3 });
    } finally {
      await hook.close();
    }
  }, 60_000);

  it("posts the function's answer to X-Callback-Url", async () => {
    const hook = await receiver();
    try {
      const id = await enqueue('/sleep?ms=10', { 'x-callback-url': hook.url });
      await waitUntil('the callback arrives', () => hook.got.length > 0);
      expect(hook.got[0]?.headers['x-thaw-call-id']).toBe(id);
      expect(hook.got[0]?.headers['x-thaw-call-status']).toBe('succeeded');
      expect(hook.got[0]?.headers['x-thaw-function-status']).toBe('200');
      expect(JSON.parse(hook.got[0]?.body ?? '')).toEqual({ slept: 10 });
      // What became of it is kept on the call.
      const call = await until(id, (c) => c.callback?.status !== 'pending', 10_000);
      expect(call.callback).toMatchObject({ status: 'sent', responseStatus: 200, tries: 1 });
    } finally {
      await hook.close();
    }
  }, 30_000);

  it('keeps the first 1 MiB of a larger answer, marked truncated', async () => {
    const size = MIB + 100_000;
    // Byte i of the answer is i % 251: what is kept can be checked byte for byte.
    const pattern = Buffer.from(Array.from({ length: size }, (_, i) => i % 251));
    const whole = Buffer.from(await (await fetch(`${gateway}/fn/solo/big?bytes=${size}`)).arrayBuffer());
    expect(whole.equals(pattern)).toBe(true);
    const call = await settled(await enqueue(`/big?bytes=${size}`, {}, 'solo'));
    expect(call).toMatchObject({ status: 'succeeded', response: { status: 200, truncated: true } });
    const kept = Buffer.from(call.response?.body ?? '', 'base64');
    expect(kept.length).toBe(MIB);
    expect(kept.equals(pattern.subarray(0, MIB))).toBe(true);
    // An answer of exactly 1 MiB is kept whole.
    const exact = await settled(await enqueue(`/big?bytes=${MIB}`, {}, 'solo'));
    expect(exact).toMatchObject({ status: 'succeeded', response: { truncated: false } });
    expect(Buffer.from(exact.response?.body ?? '', 'base64').equals(pattern.subarray(0, MIB))).toBe(true);
    truncatedCall = call.callId;
  }, 60_000);

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

  it('drops the calls of a deleted function that have not run; results kept earlier stay', async () => {
    // One call at a time: the first holds the function while the next two wait.
    const running = await enqueue('/sleep?ms=3000', {}, 'solo');
    await until(running, (c) => c.status === 'running', 10_000);
    const waiting = [await enqueue('/sleep?ms=10', {}, 'solo'), await enqueue('/sleep?ms=10', {}, 'solo')];
    for (const id of waiting) expect((await read(id)).call).toMatchObject({ status: 'queued', attempts: 0 });
    expect((await platform.fetch(`${gateway}/v1/functions/solo`, { method: 'DELETE' })).status).toBe(204);
    // Gone at once, and still gone after they would have run.
    for (const id of waiting) expect(await read(id)).toEqual({ status: 404, code: 'CALL_NOT_FOUND' });
    await new Promise((r) => setTimeout(r, 1500));
    for (const id of waiting) expect(await read(id)).toEqual({ status: 404, code: 'CALL_NOT_FOUND' });
    expect((await read(truncatedCall)).call).toMatchObject({
      status: 'succeeded',
      response: { truncated: true },
    });
  }, 60_000);

  it('retries calls whose worker was killed under them, once a worker is back', async () => {
    const ids = await Promise.all(Array.from({ length: 2 }, () => enqueue('/sleep?ms=1500')));
    // Both running in the worker's containers (then a little more, so both are inside them).
    await waitUntil(
      'two calls run',
      async () => (await Promise.all(ids.map(read))).filter((r) => r.call?.status === 'running').length === 2,
    );
    await new Promise((r) => setTimeout(r, 300));
    await worker.kill();
    await new Promise((r) => setTimeout(r, 500));
    await worker.start(); // reclaims what the killed one left, takes the function on again
    const calls = await Promise.all(ids.map((id) => settled(id, 60_000)));
    expect(calls.map((c) => c.status)).toEqual(['succeeded', 'succeeded']);
    // The first try of each failed with its worker (WORKER_LOST): the answer is a later try's.
    for (const c of calls) expect(c.attempts).toBeGreaterThanOrEqual(2);
    for (const c of calls) expect(bodyOf(c)).toEqual({ slept: 1500 });
  }, 90_000);

  it('finishes the calls a SIGKILLed gateway was running through another gateway', async () => {
    const ids = await Promise.all(Array.from({ length: 3 }, () => enqueue('/sleep?ms=2000')));
    // Two run (asyncConcurrency 2) in the only gateway there is; the third waits.
    await waitUntil(
      'two calls run',
      async () => (await Promise.all(ids.map(read))).filter((r) => r.call?.status === 'running').length === 2,
    );
    const first = platform.gateway;
    first.kill('SIGKILL');
    await waitUntil('the gateway is dead', () => first.signalCode !== null);
    const killedAt = Date.now();
    gateway = await platform.addGateway();
    const calls = await Promise.all(ids.map((id) => settled(id, 60_000)));
    expect(
      calls.map((c) => c.status),
      JSON.stringify(calls),
    ).toEqual(['succeeded', 'succeeded', 'succeeded']);
    for (const c of calls) expect(bodyOf(c)).toEqual({ slept: 2000 });
    // Each one's last try started after the kill: in the gateway that is left.
    for (const c of calls) expect(Date.parse(c.startedAt ?? '')).toBeGreaterThan(killedAt);
  }, 90_000);

  it('runs at most asyncConcurrency calls of a function at once across two gateways', async () => {
    const second = await platform.addGateway();
    const ids = await Promise.all(
      Array.from({ length: 8 }, (_, i) => enqueue('/sleep?ms=600', {}, 'job', i % 2 ? second : gateway)),
    );
    const calls = await Promise.all(ids.map((id) => settled(id)));
    expect(calls.map((c) => c.status)).toEqual(calls.map(() => 'succeeded'));
    // The limit is reached (calls did run side by side) and never passed, though each gateway
    // on its own would take two.
    expect(mostAtOnce(calls), JSON.stringify(calls.map((c) => [c.startedAt, c.finishedAt]))).toBe(2);
  }, 60_000);

  it('loses no call when Redis restarts under running and waiting calls', async () => {
    const ids = await Promise.all(Array.from({ length: 4 }, () => enqueue('/sleep?ms=1500')));
    await waitUntil(
      'two calls run',
      async () => (await Promise.all(ids.map(read))).filter((r) => r.call?.status === 'running').length === 2,
    );
    // Redis stops (its append-only file written) and comes back on the same port and data.
    const port = Number(new URL(redis.url).port);
    await redis.close();
    redis = await startRedis({ dataDir: redisDir, port });
    const calls = await Promise.all(ids.map((id) => settled(id, 60_000)));
    expect(
      calls.map((c) => c.status),
      JSON.stringify(calls),
    ).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    for (const c of calls) expect(c.response?.body, JSON.stringify(c)).toBeTruthy();
    for (const c of calls) expect(bodyOf(c)).toEqual({ slept: 1500 });
  }, 90_000);

  it('leaves nothing behind: containers, the worker host, its runtime state, servers, folders', async () => {
    await platform.close();
    await worker.close();
    await redis.close();
    await nats.close();
    for (const p of [platform.gateway, platform.worker, redis.process, nats.process]) {
      if (p) expect(p.exitCode !== null || p.signalCode !== null).toBe(true);
    }
    const w = worker.runtime;
    const { runtime, reclaimed } = await Runtime.open(w);
    expect(reclaimed).toEqual([]);
    await runtime.close();
    expect(residueItems(await runtime.residue())).toEqual([]);
    for (const dir of [w.stateDir, w.runDir, redisDir, rt.stateDir, rt.runDir]) {
      await rm(dir, { recursive: true, force: true });
    }
    const names = [worker.netns, w.cgroupParent, w.stateDir, w.runDir, w.bridge, redisDir, rt.stateDir];
    expect(findTestResidue().filter((r) => names.some((n) => r.includes(n)))).toEqual([]);
  }, 120_000);
});
