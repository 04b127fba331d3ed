/**
 * Admission with real parts (nats-server, the worker, runc containers): a default function under
 * 128 concurrent calls is served, not refused; a queue that cannot drain in time is.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Service, startNats, workerEnvFor } from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { buildTestImage } from '@thaw/runtime/testimages';
import { type FunctionSpecInput, type ImageRecord, InvokeHeader, subjects } from '@thaw/shared';
import { connect, headers, JSONCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnv, type RunningWorker, startWorker } from '../../src/index.js';
import { callWorker, fnRecordFor, importArchive } from '../helpers.js';

const rt = scratchRuntimeOptions('wadm');
const prefix = `wa${process.pid}`;
const subj = subjects(prefix);
const json = JSONCodec<unknown>();
let nats: Service;
let nc: NatsConnection;
let worker: RunningWorker;
let image: ImageRecord;

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  worker = await startWorker(
    loadEnv({ NATS_URL: nats.url, THAW_PREFIX: prefix, ...workerEnvFor(rt), LOG_LEVEL: 'warn' }),
  );
  const built = await buildTestImage('node-hello', 'oci', join(rt.stateDir, 'archives'));
  image = await importArchive(nc, subj.importImage, `admission-${process.pid}`, built.path);
}, 180_000);

afterAll(async () => {
  await worker?.close();
  await nc?.close();
  await nats?.close();
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
});

async function place(name: string, spec: Partial<FunctionSpecInput>): Promise<void> {
  // The spec's defaults, not the test helper's short timeout, unless the test says otherwise.
  const fn = fnRecordFor(image, name, { timeoutMs: 30_000, ...spec });
  await nc.request(subj.place, json.encode({ fn, image: { kind: 'upload', record: image } }), {
    timeout: 60_000,
  });
}

/** One call as the gateway makes it: the status, or the error code. */
async function invoke(name: string, path: string): Promise<string> {
  const h = headers();
  h.set(InvokeHeader.method, 'GET');
  h.set(InvokeHeader.path, path);
  h.set(InvokeHeader.query, '');
  h.set(InvokeHeader.headers, '{}');
  const { answer } = await callWorker(nc, subj.invoke(name), new Uint8Array(), h, 60_000);
  return answer.headers?.get(InvokeHeader.error) || answer.headers?.get(InvokeHeader.status) || '';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('admission on a real worker', () => {
  it('serves 128 concurrent calls of a default function, none refused', async () => {
    await place('dflt', {});
    // Three rounds of 128 at once, each call 20 ms: far more waiting than instances, never
    // near the timeout.
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all(
        Array.from({ length: 128 }, (_, i) => invoke('dflt', `/sleep?ms=20&i=${i}`)),
      );
      expect(answers.filter((a) => a !== '200')).toEqual([]);
    }
  }, 180_000);

  it('refuses at once a call that comes when the queue cannot drain within the timeout', async () => {
    await place('tiny', { maxInstances: 1, concurrency: 1, timeoutMs: 2000 });
    // One call holds the only instance for 1.5 s; one waits behind it and is served in time.
    const running = invoke('tiny', '/sleep?ms=1500');
    await sleep(100);
    const waiting = invoke('tiny', '/');
    // The oldest waiter has now waited over half the timeout (1 s): the next is refused.
    await sleep(1100);
    const t0 = performance.now();
    expect(await invoke('tiny', '/')).toBe('OVERLOADED');
    expect(performance.now() - t0).toBeLessThan(500);
    expect(await running).toBe('200');
    expect(await waiting).toBe('200');
  }, 60_000);
});
