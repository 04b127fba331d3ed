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
import { callWorker, fnRecordFor, importArchive, until } from './helpers.js';

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
      THAW_MEMORY_MIB: '300',
      HEARTBEAT_MS: '100',
      FREEZE_AFTER_MS: '30',
      LOG_LEVEL: 'warn',
    }),
  );
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

async function place(fn: FunctionRecord, record = image): Promise<PlaceReply> {
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

describe('worker memory budget and heartbeats', () => {
  it('heartbeats carry the budget, what is committed and each instance with its state', async () => {
    expect((await place(fnRecord('first'))).ok).toBe(true);
    // The first heartbeat that shows it frozen, within a deadline.
    let beat = await nextBeat();
    const deadline = Date.now() + 5000;
    while (beat.functions[0]?.instances[0]?.state !== 'frozen' && Date.now() < deadline)
      beat = await nextBeat();
    expect(beat).toMatchObject({
      workerId: 'budget-worker',
      intervalMs: 100,
      draining: false,
      memory: { budgetMiB: 300, committedMiB: 128 },
    });
    expect(beat.functions).toEqual([
      {
        name: 'first',
        starting: 0,
        instances: [{ id: expect.any(String), state: 'frozen', busy: 0, revision: 1 }],
      },
    ]);
  });

  it('evicts the least recently used idle instance of another function when the budget is full', async () => {
    expect((await place(fnRecord('second'))).ok).toBe(true);
    expect(worker.service.heartbeatMessage().memory.committedMiB).toBe(256);
    // "second" was used last, so "first" (idle longest) makes room for "third".
    expect((await call('second', '/')).headers?.get(InvokeHeader.status)).toBe('200');
    expect((await place(fnRecord('third'))).ok).toBe(true);
    const after = worker.service.heartbeatMessage();
    expect(after.memory.committedMiB).toBe(256);
    const count = (n: string) => after.functions.find((f) => f.name === n)?.instances.length;
    expect([count('first'), count('second'), count('third')]).toEqual([0, 1, 1]);
    expect(worker.runtime.list()).toHaveLength(2);
    // The evicted function still serves: an instance starts again, evicting the next idle one.
    expect((await call('first', '/')).headers?.get(InvokeHeader.status)).toBe('200');
    expect(worker.service.heartbeatMessage().memory.committedMiB).toBe(256);
  });

  it('refuses an instance that does not fit even after eviction, with a clear error', async () => {
    const reply = await place(fnRecord('huge', { memoryMiB: 512 }));
    expect(reply).toMatchObject({ ok: false, error: { code: 'OVERLOADED' } });
    if (reply.ok) return;
    expect(reply.error.message).toMatch(/memory budget is full .*300 MiB/);
    expect(worker.service.heartbeatMessage().functions.map((f) => f.name)).not.toContain('huge');
    // Nothing was evicted for it: eviction could not have made enough room.
    expect(worker.service.heartbeatMessage().memory.committedMiB).toBe(256);
    // Two, once the earlier test's eviction has finished removing its container (on a loaded
    // machine it can still be listed); an eviction for "huge" would leave one for good.
    expect(await until(() => worker.runtime.list().length === 2, 5000)).toBe(true);
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
  });
});
