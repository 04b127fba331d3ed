import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Service, startNats, workerEnvFor } from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { buildTestImage } from '@thaw/runtime/testimages';
import {
  FunctionRecord,
  type FunctionSpecInput,
  type ImageRecord,
  InvokeHeader,
  PlaceReply,
  subjects,
  WorkerHeartbeat,
} from '@thaw/shared';
import { connect, headers, JSONCodec, type Msg, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnv, type RunningWorker, startWorker } from '../src/index.js';
import { callWorker, fnRecordFor, importArchive, sample, until } from './helpers.js';

const rt = scratchRuntimeOptions('wbg');
const prefix = `wb${process.pid}`;
const subj = subjects(prefix);
const json = JSONCodec<unknown>();
let nats: Service;
let nc: NatsConnection;
let worker: RunningWorker;
let image: ImageRecord;
let nodeImage: ImageRecord;
const beats: WorkerHeartbeat[] = [];
/** node-hello at 64 MiB: one fits running, about a dozen frozen (~10 MiB each). */
const BUDGET = 128;
/** The most ever committed, sampled all through the file: never above the budget. */
let peakCommitted = 0;

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  nc.subscribe(subj.heartbeat, {
    callback: (_e, m) => {
      beats.push(WorkerHeartbeat.parse(json.decode(m.data)));
    },
  });
  worker = await startWorker(
    loadEnv({
      NATS_URL: nats.url,
      THAW_PREFIX: prefix,
      WORKER_ID: 'budget-worker',
      ...workerEnvFor(rt),
      THAW_MEMORY_MIB: String(BUDGET),
      HEARTBEAT_MS: '100',
      FREEZE_AFTER_MS: '30',
      LOG_LEVEL: 'warn',
    }),
  );
  const peak = setInterval(() => {
    peakCommitted = Math.max(peakCommitted, worker.service.heartbeatMessage().memory.committedMiB);
  }, 2);
  peak.unref();
  image = await upload('busybox-httpd');
  nodeImage = await upload('node-hello');
}, 180_000);

async function upload(which: 'busybox-httpd' | 'node-hello'): Promise<ImageRecord> {
  const built = await buildTestImage(which, 'oci', join(rt.stateDir, 'archives'));
  const object = `budget-${which}-${process.pid}`;
  return await importArchive(nc, subj.importImage, object, built.path);
}

afterAll(async () => {
  await worker?.close();
  await nc?.close();
  await nats?.close();
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
});

function fnRecord(name: string, extra: Partial<FunctionSpecInput> = {}): FunctionRecord {
  return fnRecordFor(image, name, { memoryMiB: 128, ...extra });
}

/** node-hello at 64 MiB: a few fit the budget running, many frozen. */
function nodeFn(name: string, extra: Partial<FunctionSpecInput> = {}): FunctionRecord {
  return fnRecordFor(nodeImage, name, { memoryMiB: 64, ...extra });
}

async function place(
  fn: FunctionRecord,
  record = fn.imageDigest === image.digest ? image : nodeImage,
): Promise<PlaceReply> {
  const msg = await nc.request(
    subj.placeOn('budget-worker'),
    json.encode({ fn, image: { kind: 'upload', record } }),
    {
      timeout: 60_000,
    },
  );
  return PlaceReply.parse(json.decode(msg.data));
}

async function call(name: string, path: string): Promise<Msg> {
  const h = headers();
  h.set(InvokeHeader.method, 'GET');
  h.set(InvokeHeader.path, path);
  h.set(InvokeHeader.query, '');
  return (await callWorker(nc, subj.invoke(name), new Uint8Array(), h)).answer;
}

async function nextBeat(): Promise<WorkerHeartbeat> {
  const seen = beats.length;
  while (beats.length === seen) await new Promise((r) => setTimeout(r, 20));
  const b = beats.at(-1);
  if (!b) throw new Error('no heartbeat');
  return b;
}

function fnOf(name: string) {
  return worker.service.heartbeatMessage().functions.find((f) => f.name === name);
}

const committed = () => worker.service.heartbeatMessage().memory.committedMiB;

/** Until every instance on the worker is frozen (charged its usage). */
async function allFrozen(): Promise<void> {
  const frozen = () =>
    worker.service.heartbeatMessage().functions.every((f) => f.instances.every((i) => i.state === 'frozen'));
  expect(await until(frozen, 5000)).toBe(true);
}

describe('worker memory budget: keep frozen, charge by usage, evict by GDSF', () => {
  it('heartbeats carry the budget, what is committed and each instance with its state and charge', async () => {
    expect((await place(nodeFn('keepme', { minInstances: 1 }))).ok).toBe(true);
    await allFrozen();
    const beat = await nextBeat();
    expect(beat).toMatchObject({ workerId: 'budget-worker', intervalMs: 100, draining: false });
    expect(beat.memory.budgetMiB).toBe(BUDGET);
    const charge = beat.functions[0]?.instances[0]?.memoryMiB ?? 0;
    expect(beat.functions).toEqual([
      {
        name: 'keepme',
        starting: 0,
        removed: {},
        instances: [
          expect.objectContaining({
            id: expect.any(String),
            state: 'frozen',
            busy: 0,
            revision: 1,
            memoryMiB: charge,
          }),
        ],
      },
    ]);
    // Frozen, it is charged its usage, not its 64 MiB limit.
    expect(charge).toBeGreaterThanOrEqual(1);
    expect(charge).toBeLessThan(64);
    expect(beat.memory.committedMiB).toBe(charge);
  });

  it('holds more frozen instances than the budget holds running, and evicts a rarely called one before a frequently called one', async () => {
    // Node functions until the next start would not fit without evicting.
    let n = 0;
    while (committed() + 64 <= BUDGET) {
      n++;
      expect((await place(nodeFn(`n${n}`))).ok).toBe(true);
      await allFrozen();
    }
    const held = worker.service.heartbeatMessage().functions.flatMap((f) => f.instances).length;
    expect(held).toBeGreaterThan(Math.floor(BUDGET / 64));
    expect(n).toBeGreaterThanOrEqual(2);
    // n1 is called often; the others never since their start.
    for (let i = 0; i < 20; i++)
      expect((await call('n1', '/')).headers?.get(InvokeHeader.status)).toBe('200');
    await allFrozen();
    expect(committed() + 64).toBeGreaterThan(BUDGET);
    expect((await place(nodeFn('newcomer'))).ok).toBe(true);
    const removed = worker.service
      .heartbeatMessage()
      .functions.filter((f) => f.removed?.memory)
      .map((f) => f.name);
    expect(removed).toHaveLength(1);
    expect(removed).not.toContain('n1');
    expect(removed).not.toContain('keepme'); // its minimum
    expect(fnOf(removed[0] ?? '')?.instances).toEqual([]);
    expect(fnOf('n1')?.instances).toHaveLength(1);
    expect(fnOf('newcomer')?.instances).toHaveLength(1);
    const text = await (await fetch(worker.metricsUrl)).text();
    expect(
      sample(text, 'thaw_worker_instance_removals_total', { function: removed[0] ?? '', reason: 'memory' }),
    ).toBe(1);
    expect(peakCommitted).toBeLessThanOrEqual(BUDGET);
  }, 120_000);

  it('a thaw that does not fit evicts first and never commits above the budget', async () => {
    await allFrozen();
    const target = fnOf('n1')?.instances[0];
    if (!target?.memoryMiB) throw new Error('n1 has no frozen instance');
    // Small busybox functions until thawing n1 (back to its 64 MiB limit) does not fit.
    let k = 0;
    while (committed() + 64 - target.memoryMiB <= BUDGET) {
      k++;
      expect((await place(fnRecord(`small${k}`, { memoryMiB: 16 }))).ok).toBe(true);
      await allFrozen();
      expect(k).toBeLessThan(30);
    }
    const evictedBefore = worker.service
      .heartbeatMessage()
      .functions.reduce((sum, f) => sum + (f.removed?.memory ?? 0), 0);
    const calling = call('n1', '/sleep?ms=500');
    // Running, it is charged its whole limit again.
    expect(await until(() => fnOf('n1')?.instances[0]?.memoryMiB === 64, 5000)).toBe(true);
    expect((await calling).headers?.get(InvokeHeader.status)).toBe('200');
    const evictedAfter = worker.service
      .heartbeatMessage()
      .functions.reduce((sum, f) => sum + (f.removed?.memory ?? 0), 0);
    expect(evictedAfter).toBeGreaterThan(evictedBefore);
    expect(fnOf('n1')?.instances.map((i) => i.id)).toEqual([target.id]); // thawed, not restarted
    expect(fnOf('keepme')?.instances).toHaveLength(1);
    expect(peakCommitted).toBeLessThanOrEqual(BUDGET);
  }, 120_000);

  it('ages out a function with idleTtlMs (reason idle-age); others stay frozen', async () => {
    expect((await place(fnRecord('aging', { memoryMiB: 16, idleTtlMs: 1000 }))).ok).toBe(true);
    expect(await until(() => fnOf('aging')?.instances.length === 0, 8000)).toBe(true);
    expect(fnOf('aging')?.removed).toEqual({ 'idle-age': 1 });
    expect(fnOf('n1')?.instances).toHaveLength(1);
  }, 30_000);

  it('scales to zero on request (reason requested), never below minInstances, and stays there', async () => {
    // Recent demand: the autoscaler's window holds it, and must not start the instance again.
    for (let i = 0; i < 3; i++) expect((await call('n1', '/')).headers?.get(InvokeHeader.status)).toBe('200');
    nc.publish(subj.functionScaleToZero, json.encode({ name: 'n1' }));
    nc.publish(subj.functionScaleToZero, json.encode({ name: 'keepme' }));
    expect(await until(() => fnOf('n1')?.instances.length === 0, 5000)).toBe(true);
    expect(fnOf('n1')?.removed).toEqual({ requested: 1 });
    // Past two autoscaler ticks, still none (nothing is starting either).
    await new Promise((r) => setTimeout(r, 2500));
    expect(fnOf('n1')).toMatchObject({ starting: 0, instances: [] });
    expect(fnOf('keepme')?.instances).toHaveLength(1);
    expect(fnOf('keepme')?.removed).toEqual({});
    // Called again, it starts (or thaws) an instance and serves.
    expect((await call('n1', '/')).headers?.get(InvokeHeader.status)).toBe('200');
    expect(peakCommitted).toBeLessThanOrEqual(BUDGET);
  }, 30_000);

  it('refuses an instance that does not fit even after eviction, with a clear error', async () => {
    const before = worker.runtime.list().length;
    const reply = await place(fnRecord('huge', { memoryMiB: 512 }));
    expect(reply).toMatchObject({ ok: false, error: { code: 'OVERLOADED' } });
    if (reply.ok) return;
    expect(reply.error.message).toMatch(new RegExp(`memory budget is full .*${BUDGET} MiB`));
    expect(worker.service.heartbeatMessage().functions.map((f) => f.name)).not.toContain('huge');
    // Nothing was evicted for it: eviction could not have made enough room.
    expect(worker.runtime.list().length).toBe(before);
  });

  it('drains on close: in-flight and queued calls finish, new calls and placements are refused, heartbeats say draining', async () => {
    // One instance, one call at a time: one call runs, two wait in the queue.
    const fn = FunctionRecord.parse({
      ...fnRecord('slow', { memoryMiB: 32, maxInstances: 1, concurrency: 1 }),
      image: nodeImage.digest,
      imageDigest: nodeImage.digest,
    });
    expect((await place(fn, nodeImage)).ok).toBe(true);
    const calls = [800, 300, 300].map((ms) => call('slow', `/sleep?ms=${ms}`));
    const slow = () => worker.service.gauges().find((g) => g.name === 'slow');
    const deadline = Date.now() + 5000;
    while (!(slow()?.running === 1 && slow()?.queued === 2) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect(slow()).toMatchObject({ running: 1, queued: 2 });
    const closing = worker.close();
    expect((await nextBeat()).draining).toBe(true);
    // It no longer listens for calls or placements: NATS answers "no responders" (503), which
    // the gateway turns into 503 NO_WORKER (packages/e2e/test/responses.test.ts).
    const h = headers();
    h.set(InvokeHeader.method, 'GET');
    h.set(InvokeHeader.path, '/');
    await expect(
      nc.request(subj.invoke('slow'), new Uint8Array(), { headers: h, timeout: 5000 }),
    ).rejects.toThrow(/503/);
    await expect(place(fnRecord('late'))).rejects.toThrow(/503/);
    const answers = await Promise.all(calls);
    expect(answers.map((a) => a.headers?.get(InvokeHeader.status))).toEqual(['200', '200', '200']);
    expect(answers.map((a) => JSON.parse(Buffer.from(a.data).toString()))).toEqual([
      { slept: 800 },
      { slept: 300 },
      { slept: 300 },
    ]);
    await closing;
    expect(worker.runtime.list()).toHaveLength(0);
    expect(peakCommitted).toBeLessThanOrEqual(BUDGET);
  });
});
