import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { buildTestImage } from '@thaw/runtime/testimages';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  deployFunction,
  findTestResidue,
  type Platform,
  type Service,
  startNats,
  startPlatform,
  startRedis,
  startWorkerHost,
  uploadImage,
  type WorkerHost,
} from '../src/index.js';

// Three workers, each on a "host" of its own (network namespace, state, cgroup parent,
// bridge, subnet), one gateway, one NATS and one Redis on the machine.
const prefix = `cl${process.pid}`;
const scratch = scratchRuntimeOptions('cl');
let nats: Service;
let redis: Service;
let platform: Platform;
const hosts: WorkerHost[] = [];
let digest: string;

interface Outcome {
  status: number;
  code?: string;
  start: number;
  end: number;
}

beforeAll(async () => {
  nats = await startNats({ listen: '0.0.0.0' });
  redis = await startRedis();
  platform = await startPlatform({
    natsUrl: nats.url,
    redisUrl: redis.url,
    gatewayPort: 0,
    prefix,
    logs: 'buffer',
    worker: false,
  });
  const port = Number(new URL(nats.url).port);
  for (const id of ['w1', 'w2', 'w3']) {
    hosts.push(await startWorkerHost({ natsPort: port, prefix, workerId: id }));
  }
  const image = await buildTestImage('node-hello', 'oci', join(scratch.stateDir, 'archives'));
  ({ digest } = await uploadImage(platform.gatewayUrl, image.path, platform.token));
}, 240_000);

afterAll(async () => {
  await platform?.close();
  for (const h of hosts) await h.close();
  await redis?.close();
  await nats?.close();
  await rm(scratch.stateDir, { recursive: true, force: true });
});

async function get(path: string): Promise<Record<string, unknown>> {
  return (await (await platform.fetch(`${platform.gatewayUrl}${path}`)).json()) as Record<string, unknown>;
}

async function workersOf(name: string): Promise<{ worker: string; instances: unknown[] }[]> {
  return (await get(`/v1/functions/${name}`)).workers as { worker: string; instances: unknown[] }[];
}

/** `clients` loops calling `path` until `until()` says stop; every call's outcome is kept. */
async function load(path: string, clients: number, until: () => boolean): Promise<Outcome[]> {
  const out: Outcome[] = [];
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (!until()) {
        const start = Date.now();
        const res = await platform.fetch(`${platform.gatewayUrl}${path}`);
        const text = await res.text();
        const o: Outcome = { status: res.status, start, end: Date.now() };
        if (res.status !== 200) o.code = (JSON.parse(text) as { error: { code: string } }).error.code;
        out.push(o);
      }
    }),
  );
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('many hosts', () => {
  it('sees every worker through its heartbeats, with its memory budget', async () => {
    const deadline = Date.now() + 5000;
    let ids: string[] = [];
    while (Date.now() < deadline) {
      ids = ((await get('/v1/workers')).workers as { workerId: string }[]).map((w) => w.workerId);
      if (ids.length === 3) break;
      await sleep(100);
    }
    expect(ids).toEqual(['w1', 'w2', 'w3']);
  });

  it('spreads a saturated function over the workers, and a killed worker fails only its own calls, with WORKER_LOST within 3 s', async () => {
    await deployFunction(
      platform.gatewayUrl,
      {
        name: 'burst',
        image: digest,
        maxInstances: 2,
        concurrency: 1,
        timeoutMs: 20_000,
      },
      platform.token,
    );
    let stop = false;
    let killedAt = 0;
    const running = load('/fn/burst/sleep?ms=50', 12, () => stop);
    // Twelve clients, two instances per worker: the function spreads to all three.
    const deadline = Date.now() + 20_000;
    while ((await workersOf('burst')).length < 3 && Date.now() < deadline) await sleep(200);
    const spread = await workersOf('burst');
    expect(spread.map((w) => w.worker)).toEqual(['w1', 'w2', 'w3']);

    const victim = hosts.find((h) => h.workerId === 'w2');
    killedAt = Date.now();
    await victim?.kill();
    await sleep(4000);
    stop = true;
    const outcomes = await running;

    const failed = outcomes.filter((o) => o.status !== 200);
    const after = outcomes.filter((o) => o.start > killedAt + 100);
    // Every call is counted: served, or lost with the worker that had taken it.
    expect(outcomes.length).toBe(outcomes.filter((o) => o.status === 200).length + failed.length);
    expect(failed.map((o) => o.code)).toEqual(failed.map(() => 'WORKER_LOST'));
    for (const f of failed) {
      expect(f.start).toBeLessThan(killedAt + 100);
      expect(f.end - killedAt).toBeLessThan(3000);
    }
    // Calls after the kill are served by the other two.
    expect(after.length).toBeGreaterThan(20);
    expect(after.every((o) => o.status === 200)).toBe(true);
    expect((await workersOf('burst')).map((w) => w.worker)).toEqual(['w1', 'w3']);
    console.log(
      `kill mid-burst: ${outcomes.length} calls, ${outcomes.length - failed.length} served, ${failed.length} WORKER_LOST`,
    );
  }, 60_000);

  it('a killed worker, started again, removes what it left behind', async () => {
    const victim = hosts.find((h) => h.workerId === 'w2');
    if (!victim) throw new Error('no w2');
    const mounts = () =>
      readFileSync('/proc/self/mounts', 'utf8')
        .split('\n')
        .filter((l) => l.includes(`${victim.runtime.stateDir}/`)).length;
    expect(mounts()).toBeGreaterThan(0); // its instances' root file systems, left mounted
    await victim.start();
    expect(victim.output()).toMatch(/removed containers left by an earlier run/);
    expect(mounts()).toBe(0);
  }, 60_000);

  it('a draining worker (SIGTERM) finishes its calls and hands its load to the others without a failure', async () => {
    let stop = false;
    const running = load('/fn/burst/sleep?ms=50', 8, () => stop);
    await sleep(1500);
    const holder = (await workersOf('burst'))[0]?.worker;
    const host = hosts.find((h) => h.workerId === holder);
    if (!host) throw new Error('no worker holds the function');
    await host.stop();
    await sleep(2000);
    stop = true;
    const outcomes = await running;
    expect(outcomes.filter((o) => o.status !== 200)).toEqual([]);
    expect(outcomes.length).toBeGreaterThan(50);
    expect((await workersOf('burst')).map((w) => w.worker)).not.toContain(holder);
  }, 60_000);

  it('leaves nothing of the workers on the host once they stop', async () => {
    for (const h of hosts) await h.close();
    const names = hosts.flatMap((h) => [
      h.netns,
      h.runtime.cgroupParent,
      h.runtime.stateDir,
      h.runtime.runDir,
    ]);
    expect(findTestResidue().filter((r) => names.some((n) => r.includes(n)))).toEqual([]);
  }, 120_000);
});
