import { type Service, startNats } from '@thaw/devkit';
import { createLogger, subjects, type WorkerHeartbeat } from '@thaw/shared';
import { connect, JSONCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../src/cluster.js';

const subj = subjects(`cl${process.pid}`);
const json = JSONCodec<WorkerHeartbeat>();
let nats: Service;
let nc: NatsConnection;
let cluster: Cluster;

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  cluster = new Cluster(nc, subj, createLogger('cluster-test', 'silent'));
});

afterAll(async () => {
  cluster?.close();
  await nc?.close();
  await nats?.close();
});

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

describe('Cluster (the gateway view of the workers, from heartbeats)', () => {
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
    expect(cluster.pick('a', 128)).toBe('w1');
    expect(cluster.pick('b', 128)).toBe('w3');
    expect(cluster.pick('b', 2500)).toBeUndefined(); // no room anywhere (w2 is draining)
    expect(cluster.instancesOf('a')).toEqual([
      {
        worker: 'w3',
        draining: false,
        starting: 0,
        instances: [{ id: 'c1', state: 'frozen', busy: 0, revision: 1 }],
      },
    ]);
    // A placement made here counts before the worker's next heartbeat shows it.
    cluster.notePlaced('b', 'w3');
    expect(cluster.pick('b', 128)).toBe('w1');
  });

  it('takes a worker as lost after three missed heartbeats, and never heard of as unknown', async () => {
    beat('w9', 1000);
    await nc.flush();
    await new Promise((r) => setTimeout(r, 20));
    expect(cluster.alive('w9')).toBe(true);
    await new Promise((r) => setTimeout(r, 350));
    expect(cluster.alive('w9')).toBe(false);
    expect(cluster.alive('nobody')).toBeUndefined();
    expect(cluster.list().map((w) => w.workerId)).not.toContain('w9');
  });
});
