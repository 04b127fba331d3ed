import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  deployFunction,
  findTestResidue,
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

// Async calls through a worker outage, and callbacks refused by the address guard (this
// platform keeps ASYNC_CALLBACK_PRIVATE at its default, deny).
const rt = scratchRuntimeOptions('aout');
let nats: Service;
let redis: Service;
let redisDir: string;
let platform: Platform;
let gateway: string;
let worker: WorkerHost;

/** How long the worker stays dead: past the 3.5 s that three tries with backoff take. */
const OUTAGE_MS = 10_000;
const CALLS = 50;

interface Call {
  callId: string;
  status: string;
  attempts: number;
  maxAttempts: number;
  response?: { status: number; body: string };
  error?: string;
  callback?: { status: string; reason?: string; tries?: number };
}

beforeAll(async () => {
  nats = await startNats({ listen: '0.0.0.0' });
  redisDir = await mkdtemp(join(tmpdir(), 'thaw-aoutredis-'));
  redis = await startRedis({ dataDir: redisDir });
  platform = await startPlatform({
    natsUrl: nats.url,
    redisUrl: redis.url,
    gatewayPort: 0,
    prefix: `ao${process.pid}`,
    logs: 'buffer',
    worker: false,
    gatewayEnv: { ASYNC_OUTAGE_BUDGET_MS: '120000' },
  });
  gateway = platform.gatewayUrl;
  worker = await startWorkerHost({
    natsPort: Number(new URL(nats.url).port),
    prefix: `ao${process.pid}`,
    workerId: 'outage-worker',
  });
  const image = await buildTestImage('node-hello', 'oci', join(rt.stateDir, 'archives'));
  const { digest } = await uploadImage(gateway, image.path, platform.token);
  await deployFunction(
    gateway,
    { name: 'job', image: digest, asyncConcurrency: 4, asyncAttempts: 3, maxInstances: 2, timeoutMs: 10_000 },
    platform.token,
  );
}, 180_000);

afterAll(async () => {
  // Each step whatever became of the one before: a failed test must not leave servers running.
  for (const step of [
    () => platform?.close(),
    () => worker?.close(),
    () => redis?.close(),
    () => nats?.close(),
    () => rm(redisDir, { recursive: true, force: true }),
    () => rm(rt.stateDir, { recursive: true, force: true }),
    () => rm(rt.runDir, { recursive: true, force: true }),
  ]) {
    await Promise.resolve()
      .then(step)
      .catch((err: Error) => console.error(`cleanup: ${err.message}`));
  }
});

async function enqueue(path: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await platform.fetch(`${gateway}/async/job${path}`, { method: 'POST', body: 'x', headers });
  expect(res.status).toBe(202);
  return ((await res.json()) as { callId: string }).callId;
}

async function read(callId: string): Promise<Call> {
  return unwrap(await platform.api.GET('/v1/calls/{callId}', { params: { path: { callId } } }));
}

async function waitUntil(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const bodyOf = (c: Call) => JSON.parse(Buffer.from(c.response?.body ?? '', 'base64').toString()) as unknown;

describe('async calls and outages', () => {
  it(`runs every call queued while the only worker is dead for ${OUTAGE_MS / 1000} s, using no attempt for the outage`, async () => {
    // Warm: the function is placed on the worker before it dies.
    const warm = await enqueue('/sleep?ms=1');
    await waitUntil(
      'the warm-up call succeeds',
      async () => (await read(warm)).status === 'succeeded',
      60_000,
    );

    await worker.kill();
    const killedAt = Date.now();
    // Whatever the outcome, a worker comes back: it reclaims what the killed one left.
    let back = false;
    const bringBack = async () => {
      if (back) return;
      back = true;
      await worker.start();
    };
    try {
      const ids: string[] = [];
      for (let i = 0; i < CALLS; i++) ids.push(await enqueue(`/sleep?ms=${i}`));
      // While the worker is away every call says so: waiting, no attempt used, nothing dead.
      let during: Call[] = [];
      await waitUntil(
        'every call has found no worker',
        async () => {
          during = await Promise.all(ids.map(read));
          return during.every((c) => c.status === 'retrying');
        },
        OUTAGE_MS - 2000,
      );
      for (const c of during) {
        expect(c, JSON.stringify(c)).toMatchObject({ status: 'retrying', attempts: 0, maxAttempts: 3 });
        expect(c.error).toMatch(/NO_WORKER.*no attempt used/);
      }
      await new Promise((r) => setTimeout(r, Math.max(0, killedAt + OUTAGE_MS - Date.now())));
      // Still none dead after the outage has outlasted three tries' backoff many times over.
      const late = await Promise.all(ids.map(read));
      expect(late.filter((c) => c.status === 'dead' || c.attempts > 0).map((c) => JSON.stringify(c))).toEqual(
        [],
      );

      await bringBack();
      let calls: Call[] = [];
      await waitUntil(
        'every call has succeeded or died',
        async () => {
          calls = await Promise.all(ids.map(read));
          return calls.every((c) => c.status === 'succeeded' || c.status === 'dead');
        },
        90_000,
      );
      const failed = calls.filter((c) => c.status !== 'succeeded');
      expect(failed.map((c) => JSON.stringify(c))).toEqual([]);
      // One attempt each: the one that ran. The tries that found no worker used none.
      expect(calls.map((c) => c.attempts)).toEqual(ids.map(() => 1));
      calls.forEach((c, i) => {
        expect(bodyOf(c)).toEqual({ slept: i });
      });
    } finally {
      await bringBack();
    }
  }, 180_000);

  it("refuses a callback to this host's own non-loopback address and records it on the call", async () => {
    const own = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal);
    if (!own) throw new Error('this host has no non-loopback IPv4 address to call back to');
    const got: string[] = [];
    const server: Server = createServer((req, res) => {
      got.push(req.url ?? '');
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, own.address, r));
    try {
      const url = `http://${own.address}:${(server.address() as AddressInfo).port}/done`;
      const id = await enqueue('/sleep?ms=1', { 'x-callback-url': url });
      let call: Call | undefined;
      await waitUntil(
        'the callback is settled on the call',
        async () => {
          call = await read(id);
          return call.status === 'succeeded' && call.callback?.status !== 'pending';
        },
        60_000,
      );
      expect(call?.callback, JSON.stringify(call)).toMatchObject({ status: 'refused', tries: 0 });
      expect(call?.callback?.reason).toContain(own.address);
      // (On a host whose outside address is also a private one, it is refused as that.)
      expect(call?.callback?.reason).toMatch(/this host's own addresses|private, loopback or link-local/);
      // And it was not sent after all, a moment later.
      await new Promise((r) => setTimeout(r, 500));
      expect(got).toEqual([]);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  }, 90_000);

  it('leaves nothing behind: containers, the worker host, its runtime state, servers, folders', async () => {
    await platform.close();
    await worker.close();
    await redis.close();
    await nats.close();
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
