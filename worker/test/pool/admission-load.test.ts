/**
 * Admission with real parts (nats-server, the worker, runc containers): a default function under
 * 128 concurrent calls is served, not refused; a queue that cannot drain in time is.
 */
import { join } from 'node:path';
import { buildTestImage } from '@thaw/runtime/testimages';
import type { FunctionSpecInput, ImageRecord } from '@thaw/shared';
import { InvokeHeader } from '@thaw/shared';
import { headers, JSONCodec } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callWorker, fnRecordFor, importArchive } from '../helpers.js';
import { openTestWorker, type TestWorker } from '../test-worker.js';

const json = JSONCodec<unknown>();
let t: TestWorker;
let image: ImageRecord;

beforeAll(async () => {
  t = await openTestWorker('wadm');
  const built = await buildTestImage('node-hello', 'oci', join(t.rt.stateDir, 'archives'));
  image = await importArchive(t.nc, t.subj.importImage, `admission-${process.pid}`, built.path);
}, 180_000);

afterAll(() => t?.close());

async function place(name: string, spec: Partial<FunctionSpecInput>): Promise<void> {
  // The spec's defaults, not the test helper's short timeout, unless the test says otherwise.
  const fn = fnRecordFor(image, name, { timeoutMs: 30_000, ...spec });
  await t.nc.request(t.subj.place, json.encode({ fn, image: { kind: 'upload', record: image } }), {
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
  const { answer } = await callWorker(t.nc, t.subj.invoke(name), new Uint8Array(), h, 60_000);
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
