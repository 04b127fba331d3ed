import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type Service, startNats, workerEnvFor } from '@thaw/devkit';
import { residueItems, scratchRuntimeOptions } from '@thaw/runtime';
import { buildTestImage } from '@thaw/runtime/testimages';
import {
  type FunctionRecord,
  type FunctionSpecInput,
  IMAGE_BUCKET,
  type ImageRecord,
  ImportReply,
  InvokeHeader,
  PlaceReply,
  subjects,
} from '@thaw/shared';
import {
  connect,
  createInbox,
  headers,
  JSONCodec,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  StorageType,
} from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnv, type RunningWorker, startWorker } from '../src/index.js';
import { callWorker, fnRecordFor } from './helpers.js';

const rt = scratchRuntimeOptions('wrk');
const prefix = `w${process.pid}`;
const subj = subjects(prefix);
const json = JSONCodec<unknown>();
let nats: Service;
let nc: NatsConnection;
let worker: RunningWorker;
let image: ImageRecord;
let builtDigest: string;

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  worker = await startWorker(
    loadEnv({
      NATS_URL: nats.url,
      THAW_PREFIX: prefix,
      ...workerEnvFor(rt),
      FREEZE_AFTER_MS: '30',
      LOG_LEVEL: 'warn',
    }),
  );
  const built = await buildTestImage('node-hello', 'oci', join(rt.stateDir, 'archives'));
  builtDigest = built.digest;
  const os = await nc.jetstream().views.os(IMAGE_BUCKET, { storage: StorageType.File });
  await os.put(
    { name: 'upload-test' },
    Readable.toWeb(createReadStream(built.path)) as ReadableStream<Uint8Array>,
  );
}, 180_000);

afterAll(async () => {
  await worker?.close();
  await nc?.close();
  await nats?.close();
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
});

function fnRecord(name: string, extra: Partial<FunctionSpecInput> = {}): FunctionRecord {
  return fnRecordFor(image, name, extra);
}

/** An invocation as the gateway makes it, answered by this test's worker. */
async function call(subject: string, body: Uint8Array, h?: MsgHdrs, timeout = 10_000): Promise<Msg> {
  const { answer, acceptedBy } = await callWorker(nc, subject, body, h, timeout);
  expect(acceptedBy).toBe(worker.id);
  return answer;
}

async function invoke(name: string, path: string, method = 'GET', body = new Uint8Array()) {
  const h = headers();
  h.set(InvokeHeader.method, method);
  h.set(InvokeHeader.path, path);
  h.set(InvokeHeader.query, '');
  h.set(InvokeHeader.headers, JSON.stringify({ 'x-test': '1' }));
  const reply = await call(subj.invoke(name), body, h);
  return {
    status: Number(reply.headers?.get(InvokeHeader.status) || 0),
    error: reply.headers?.get(InvokeHeader.error) ?? '',
    body: Buffer.from(reply.data).toString(),
  };
}

describe('worker', () => {
  it('imports an uploaded archive and reports the image digest', async () => {
    const msg = await nc.request(subj.importImage, json.encode({ object: 'upload-test' }), {
      timeout: 120_000,
    });
    const reply = ImportReply.parse(json.decode(msg.data));
    expect(reply).toMatchObject({ ok: true, digest: builtDigest });
    if (!reply.ok) throw new Error('import failed');
    image = {
      digest: reply.digest,
      object: 'upload-test',
      size: reply.size,
      uploadedAt: new Date().toISOString(),
    };
  });

  it('answers a clear error for an archive that is not an image', async () => {
    const os = await nc.jetstream().views.os(IMAGE_BUCKET);
    await os.putBlob({ name: 'upload-junk' }, Buffer.from('this is not a tar'));
    const msg = await nc.request(subj.importImage, json.encode({ object: 'upload-junk' }), {
      timeout: 30_000,
    });
    expect(ImportReply.parse(json.decode(msg.data))).toMatchObject({
      ok: false,
      error: { code: 'IMAGE_INVALID' },
    });
  });

  it('places a function: one instance, started and left frozen', async () => {
    const msg = await nc.request(
      subj.place,
      json.encode({ fn: fnRecord('echo', { concurrency: 64 }), image: { kind: 'upload', record: image } }),
      {
        timeout: 60_000,
      },
    );
    expect(PlaceReply.parse(json.decode(msg.data))).toMatchObject({ ok: true, workerId: worker.id });
    const [c] = worker.runtime.list();
    expect(worker.runtime.list()).toHaveLength(1);
    expect(c?.state).toBe('frozen');
  });

  it('thaws for a request and freezes again when idle', async () => {
    const r = await invoke('echo', '/hello', 'POST', Buffer.from('abc'));
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({
      method: 'POST',
      path: '/hello',
      bodyLength: 3,
      headers: { 'x-test': '1' },
    });
    const c = worker.runtime.list()[0];
    const deadline = Date.now() + 2000;
    while (c?.state !== 'frozen' && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
    expect(c?.state).toBe('frozen');
  });

  it('serves concurrent requests across freeze/thaw cycles without losing one', async () => {
    const results: number[] = [];
    for (let round = 0; round < 5; round++) {
      const batch = await Promise.all(
        Array.from({ length: 16 }, (_, i) => invoke('echo', `/r${round}/${i}`)),
      );
      results.push(...batch.map((b) => b.status));
      await new Promise((res) => setTimeout(res, 25 + round * 5)); // lands around the freeze
    }
    expect(results.filter((s) => s !== 200)).toEqual([]);
  });

  it('grows the pool for concurrent requests, up to maxInstances, and refuses beyond its queue', async () => {
    const place = (fn: FunctionRecord) =>
      nc.request(subj.place, json.encode({ fn, image: { kind: 'upload', record: image } }), {
        timeout: 60_000,
      });
    await place(fnRecord('pool', { maxInstances: 3, concurrency: 1, idleTtlMs: 1000 }));
    const before = worker.runtime.list().length;
    const three = await Promise.all([1, 2, 3].map((i) => invoke('pool', `/sleep?ms=400&i=${i}`)));
    expect(three.map((r) => r.status)).toEqual([200, 200, 200]);
    // The placement's warm instance and two more.
    expect(worker.runtime.list().length - before).toBe(2);

    await place(fnRecord('tiny', { maxInstances: 1, concurrency: 1, idleTtlMs: 1000 }));
    // One running, ten waiting (the queue: 10 per instance), the rest refused at once.
    const burst = await Promise.all(
      Array.from({ length: 14 }, (_, i) => invoke('tiny', `/sleep?ms=100&i=${i}`)),
    );
    const refused = burst.filter((r) => r.error === 'OVERLOADED');
    expect(burst.filter((r) => r.status === 200)).toHaveLength(11);
    expect(refused).toHaveLength(3);
  }, 60_000);

  it('scales an idle pool back to zero after its idle time-to-live', async () => {
    const deadline = Date.now() + 15_000;
    const pooled = () => worker.runtime.list().filter((c) => c.state !== 'destroyed').length;
    // 'echo' keeps one frozen instance until its own (default, 60 s) TTL; pool and tiny go.
    while (pooled() > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(pooled()).toBe(1);
  }, 20_000);

  it('serves concurrent first requests from zero instances, starting no more than they need', async () => {
    const echo = worker.runtime.list().map((c) => c.id);
    const place = (fn: FunctionRecord) =>
      nc.request(subj.place, json.encode({ fn, image: { kind: 'upload', record: image } }), {
        timeout: 60_000,
      });
    // Placed, then left to age out to zero; then four concurrent first requests, concurrency 4.
    await place(fnRecord('wide', { maxInstances: 5, concurrency: 4, idleTtlMs: 1000 }));
    const deadline = Date.now() + 10_000;
    const wide = () => worker.service.heartbeatMessage().functions.find((f) => f.name === 'wide');
    while ((wide()?.instances.length ?? 1) > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(wide()?.instances).toEqual([]);
    const four = await Promise.all([1, 2, 3, 4].map((i) => invoke('wide', `/sleep?ms=100&i=${i}`)));
    expect(four.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(wide()?.instances.length).toBe(1);
    expect(worker.runtime.list().filter((c) => !echo.includes(c.id)).length).toBe(1);
  }, 20_000);

  it('runs a call once when a resent copy of it arrives too', async () => {
    const h = headers();
    h.set(InvokeHeader.method, 'GET');
    h.set(InvokeHeader.path, '/flaky');
    h.set(InvokeHeader.query, 'key=dup');
    const inbox = createInbox();
    const got: Msg[] = [];
    const sub = nc.subscribe(inbox, { callback: (_e, m) => got.push(m) });
    // The same call twice, as a gateway resends it: same reply subject.
    nc.publish(subj.invoke('echo'), new Uint8Array(), { reply: inbox, headers: h });
    nc.publish(subj.invoke('echo'), new Uint8Array(), { reply: inbox, headers: h });
    const deadline = Date.now() + 5000;
    while (got.filter((m) => !m.headers?.get(InvokeHeader.accepted)).length < 1 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300)); // room for a second answer, if there were one
    sub.unsubscribe();
    const answers = got.filter((m) => !m.headers?.get(InvokeHeader.accepted));
    expect(answers).toHaveLength(1);
    // The function saw it once: the next call with the key is its second.
    const next = await invoke('echo', '/flaky?key=dup');
    expect(JSON.parse(next.body)).toMatchObject({ key: 'dup', call: 2 });
  });

  it('rejects a malformed envelope', async () => {
    const reply = await call(subj.invoke('echo'), new Uint8Array(), undefined, 5000);
    expect(reply.headers?.get(InvokeHeader.error)).toBe('VALIDATION_FAILED');
  });

  it('drops the function and its instance when it is removed', async () => {
    nc.publish(subj.functionRemoved, json.encode({ name: 'echo' }));
    const deadline = Date.now() + 10_000;
    while (worker.runtime.list().length > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(worker.runtime.list()).toEqual([]);
    await expect(call(subj.invoke('echo'), new Uint8Array(), undefined, 2000)).rejects.toThrow();
  });

  it('leaves nothing behind once closed', async () => {
    await worker.close();
    const r = await worker.runtime.residue();
    expect(residueItems(r)).toEqual([]);
  });
});
