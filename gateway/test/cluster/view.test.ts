import { type Service, startNats } from '@thaw/devkit';
import { createLogger, FunctionRecord, subjects, type WorkerHeartbeat } from '@thaw/shared';
import { connect, JSONCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterView } from '../../src/cluster/view.js';
import { Placer } from '../../src/placement/placer.js';

const subj = subjects(`cl${process.pid}`);
const json = JSONCodec<WorkerHeartbeat>();
let nats: Service;
let nc: NatsConnection;
let cluster: ClusterView;
let placer: Placer;
const log = createLogger('cluster-test', 'silent');

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  cluster = new ClusterView({ nc, subjects: subj, log });
  // Placement decisions made on this real view; nothing is sent to a worker.
  placer = new Placer({
    view: cluster,
    client: { place: async (_fn, _image, to) => ({ ok: true, workerId: to ?? 'any', digest: 'sha256:x' }) },
    functions: { get: async () => undefined },
    images: { sourceOf: async () => ({ kind: 'registry', reference: 'x' }) },
    log,
  });
});

afterAll(async () => {
  cluster?.close();
  await nc?.close();
  await nats?.close();
});

const record = (name: string) =>
  FunctionRecord.parse({ name, image: 'example.com/x:1', createdAt: 'now', updatedAt: 'now' });

function beat(workerId: string, freeMiB: number, extra: Partial<WorkerHeartbeat> = {}): void {
  nc.publish(
    subj.heartbeat,
    json.encode({
      workerId,
      intervalMs: 100,
      draining: false,
      memory: { budgetMiB: 4000, committedMiB: 4000 - freeMiB },
      functions: [],
      ...extra,
    }),
  );
}

describe('ClusterView (the gateway view of the workers, from heartbeats)', () => {
  it('places on the live, non-draining worker with most free memory that does not hold the function', async () => {
    beat('w1', 1000);
    beat('w2', 3000, { draining: true });
    beat('w3', 2000, {
      functions: [
        { name: 'a', starting: 0, instances: [{ id: 'c1', state: 'frozen', busy: 0, revision: 1 }] },
      ],
    });
    await nc.flush();
    await new Promise((r) => setTimeout(r, 20));
    expect(placer.pick('a', 128)).toBe('w1');
    expect(placer.pick('b', 128)).toBe('w3');
    expect(placer.pick('b', 2500)).toBeUndefined(); // no room anywhere (w2 is draining)
    expect(cluster.instancesOf('a')).toEqual([
      {
        worker: 'w3',
        draining: false,
        starting: 0,
        // No removal counts in the heartbeat (a worker from before them): none.
        removed: {},
        instances: [{ id: 'c1', state: 'frozen', busy: 0, revision: 1 }],
      },
    ]);
    // A placement made here counts before the worker's next heartbeat shows it.
    await placer.place(record('b'), { kind: 'registry', reference: 'x' }, 'w3');
    expect(placer.pick('b', 128)).toBe('w1');
  });

  it('keeps a worker alive through one missed heartbeat, takes it as lost after three, and one never heard of as unknown', async () => {
    // A longer period than the other tests: the "one missed beat" look must fall well inside
    // the three-beat window even when this machine is busy.
    const intervalMs = 400;
    const sentAt = Date.now();
    beat('w9', 1000, { intervalMs });
    await nc.flush();
    await new Promise((r) => setTimeout(r, 20));
    expect(cluster.alive('w9')).toBe(true);

    // The next beat was due at 400 ms and did not come.
    while (Date.now() - sentAt < 1.5 * intervalMs) await new Promise((r) => setTimeout(r, 10));
    const oneMissed = { alive: cluster.alive('w9'), listed: cluster.list().map((w) => w.workerId) };
    const lookedAt = Date.now() - sentAt;
    expect(lookedAt).toBeLessThan(3 * intervalMs); // else this look proves nothing
    expect(oneMissed).toEqual({ alive: true, listed: expect.arrayContaining(['w9']) });

    // Lost once three beats are missed, not before (polled: a slow machine cannot fake it),
    // and not much after either.
    const deadline = sentAt + 4.5 * intervalMs;
    while (cluster.alive('w9') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const lostAt = Date.now() - sentAt;
    expect(cluster.alive('w9')).toBe(false);
    expect(lostAt).toBeGreaterThan(3 * intervalMs);
    expect(cluster.alive('nobody')).toBeUndefined();
    expect(cluster.list().map((w) => w.workerId)).not.toContain('w9');
  });
});
