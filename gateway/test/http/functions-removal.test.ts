import { subjects, type WorkerHeartbeat } from '@thaw/shared';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { JSONCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApp, type TestApp } from '../test-app.js';

// What users see of the keep-frozen policy: removals by reason, charged memory and start
// phases in GET /v1/functions/:name (from real heartbeats on a real NATS), and the
// scale-to-zero request published to the workers.
const beats = JSONCodec<WorkerHeartbeat>();
let t: TestApp;
let subj: ReturnType<typeof subjects>;
let nc: NatsConnection;
let app: FastifyInstance;
const inject = (o: InjectOptions) => t.inject(o);

beforeAll(async () => {
  t = await openTestApp({ tag: 'gs', placeTimeoutMs: 500 });
  ({ app, nc } = t);
  subj = subjects(t.prefix);
  // A registry function: it exists at once (no worker runs here, so its pull fails; that
  // changes only its status).
  const res = await inject({
    method: 'POST',
    url: '/v1/functions',
    payload: { name: 'kept', image: 'example.com/team/kept:1', minInstances: 1 },
  });
  expect(res.statusCode).toBe(202);
});

afterAll(() => t?.close());

const start = { imageMs: 0, rootfsMs: 8, networkMs: 21, runtimeMs: 38, appMs: 25, totalMs: 92, cpuMs: 61 };

/** GET /v1/functions/:name once heartbeats from `workers` workers show in it (or after 5 s). */
async function viewWithWorkers(name: string, workers: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const body: Record<string, unknown> = (
      await inject({ method: 'GET', url: `/v1/functions/${name}` })
    ).json();
    if ((body.workers as unknown[]).length === workers || Date.now() >= deadline) return body;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function beat(workerId: string, fn: WorkerHeartbeat['functions'][number]): void {
  nc.publish(
    subj.heartbeat,
    beats.encode({
      workerId,
      // Long enough that neither worker counts as lost while the test reads.
      intervalMs: 10_000,
      draining: false,
      memory: { budgetMiB: 4000, committedMiB: 100 },
      functions: [fn],
    }),
  );
}

describe('GET /v1/functions/:name: why instances went, what they cost, how they started', () => {
  it('passes each worker’s removals, charged memory and start phases through, and totals removals by reason', async () => {
    beat('w1', {
      name: 'kept',
      starting: 0,
      removed: { memory: 3, 'idle-age': 1 },
      instances: [{ id: 'i1', state: 'frozen', busy: 0, revision: 1, memoryMiB: 11.5, start }],
    });
    // An older worker: no removals yet, an instance with neither field (both are optional).
    beat('w2', {
      name: 'kept',
      starting: 1,
      removed: { memory: 2, requested: 4 },
      instances: [{ id: 'i2', state: 'running', busy: 1, revision: 1 }],
    });
    beat('w3', { name: 'other', starting: 0, removed: { crashed: 9 }, instances: [] });
    await nc.flush();
    const body = await viewWithWorkers('kept', 2);
    expect(body.workers).toEqual([
      {
        worker: 'w1',
        draining: false,
        starting: 0,
        removed: { memory: 3, 'idle-age': 1 },
        instances: [{ id: 'i1', state: 'frozen', busy: 0, revision: 1, memoryMiB: 11.5, start }],
      },
      {
        worker: 'w2',
        draining: false,
        starting: 1,
        removed: { memory: 2, requested: 4 },
        instances: [{ id: 'i2', state: 'running', busy: 1, revision: 1 }],
      },
    ]);
    // Another function's removals (w3) are not counted.
    expect(body.removed).toEqual({ memory: 5, 'idle-age': 1, requested: 4 });
  });

  it('shows no removals as an empty object, and a worker without the field as none', async () => {
    beat('w4', { name: 'quiet', starting: 0, instances: [] });
    await inject({
      method: 'POST',
      url: '/v1/functions',
      payload: { name: 'quiet', image: 'example.com/q:1' },
    });
    await nc.flush();
    const body = await viewWithWorkers('quiet', 1);
    expect(body).toMatchObject({ workers: [{ worker: 'w4', removed: {} }], removed: {} });
  });
});

describe('POST /v1/functions/:name/scale-to-zero', () => {
  it('publishes the request to every worker and answers 202 with what was asked', async () => {
    const seen: unknown[] = [];
    const sub = nc.subscribe(subj.functionScaleToZero, {
      callback: (_e, m) => seen.push(JSONCodec().decode(m.data)),
    });
    await nc.flush();
    const res = await inject({ method: 'POST', url: '/v1/functions/kept/scale-to-zero' });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({
      name: 'kept',
      requested: 'scale-to-zero',
      minInstances: 1,
      workers: ['w1', 'w2'],
      message: expect.stringMatching(/idle instances of "kept" above its minimum \(1\)/),
    });
    for (const deadline = Date.now() + 5000; seen.length === 0 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    sub.unsubscribe();
    expect(seen).toEqual([{ name: 'kept' }]);
  });

  it('answers 404 FUNCTION_NOT_FOUND for an unknown function and publishes nothing', async () => {
    const seen: unknown[] = [];
    const sub = nc.subscribe(subj.functionScaleToZero, { callback: (_e, m) => seen.push(m.data) });
    await nc.flush();
    const res = await inject({ method: 'POST', url: '/v1/functions/nosuch/scale-to-zero' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({
      error: { code: 'FUNCTION_NOT_FOUND', message: 'no function named "nosuch"' },
    });
    // A published request would have arrived by the time a round trip through the server has.
    await nc.flush();
    sub.unsubscribe();
    expect(seen).toEqual([]);
  });

  it('needs the admin token, as every /v1/ route does', async () => {
    const seen: unknown[] = [];
    const sub = nc.subscribe(subj.functionScaleToZero, { callback: (_e, m) => seen.push(m.data) });
    await nc.flush();
    for (const authorization of [undefined, 'Bearer wrong-token']) {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/functions/kept/scale-to-zero',
        headers: authorization ? { authorization } : {},
      });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    }
    await nc.flush();
    sub.unsubscribe();
    expect(seen).toEqual([]);
  });
});
