/**
 * ClusterView's index of which workers hold a function (`holdersOf`, read per call by the direct
 * links) and `liveBeat`, fed by heartbeats published on a real nats-server. Forgetting a silent
 * worker is not covered here: FORGET_AFTER_MS (60 s) and SWEEP_EVERY_MS are not injectable.
 */
import { type Service, startNats } from '@thaw/devkit';
import { createLogger, subjects, type WorkerHeartbeat } from '@thaw/shared';
import { connect, JSONCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterView } from '../../src/cluster/view.js';

const subj = subjects(`vh${process.pid}`);
const json = JSONCodec<WorkerHeartbeat>();
let nats: Service;
let nc: NatsConnection;
let view: ClusterView;
let seq = 0;

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  view = new ClusterView({ nc, subjects: subj, log: createLogger('view-holders-test', 'silent') });
});
afterAll(async () => {
  view?.close();
  await nc?.close();
  await nats?.close();
});

/** Publishes a heartbeat of `workerId` holding `fns` and waits until the view has read it. */
async function beat(
  workerId: string,
  fns: string[],
  intervalMs = 100,
  direct?: WorkerHeartbeat['direct'],
): Promise<void> {
  const mark = ++seq;
  nc.publish(
    subj.heartbeat,
    json.encode({
      workerId,
      intervalMs,
      draining: false,
      direct,
      // The committed figure marks this beat, to know when the view has it.
      memory: { budgetMiB: 4000, committedMiB: mark },
      functions: fns.map((name) => ({ name, starting: 0, instances: [] })),
    }),
  );
  const end = Date.now() + 2000;
  while (view.liveBeat(workerId)?.memory.committedMiB !== mark) {
    if (Date.now() > end) throw new Error(`the view never read beat ${mark} of ${workerId}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const holders = (fn: string) => [...(view.holdersOf(fn) ?? [])].sort();

describe('ClusterView.holdersOf', () => {
  it('adds a worker for the functions its beat lists, and removes it when a later beat drops one', async () => {
    await beat('h1', ['a', 'b']);
    await beat('h2', ['b']);
    expect(holders('a')).toEqual(['h1']);
    expect(holders('b')).toEqual(['h1', 'h2']);
    expect(view.holdersOf('c')).toBeUndefined();

    await beat('h1', ['b', 'c']);
    expect(view.holdersOf('a')).toBeUndefined(); // its last holder dropped it: no empty set left behind
    expect(holders('b')).toEqual(['h1', 'h2']);
    expect(holders('c')).toEqual(['h1']);

    await beat('h2', []);
    expect(holders('b')).toEqual(['h1']);
    await beat('h1', []);
    expect(view.holdersOf('b')).toBeUndefined();
    expect(view.holdersOf('c')).toBeUndefined();
  });

  it('keeps a silent worker among the holders, but gives no live beat for it', async () => {
    await beat('h3', ['d'], 50);
    expect(view.liveBeat('h3')?.functions.map((f) => f.name)).toEqual(['d']);
    // Three missed beats of 50 ms: lost; the index still lists it (DirectLinks asks liveBeat).
    await new Promise((r) => setTimeout(r, 200));
    expect(view.alive('h3')).toBe(false);
    expect(view.liveBeat('h3')).toBeUndefined();
    expect(holders('d')).toEqual(['h3']);
    expect(view.liveBeat('never-heard-of')).toBeUndefined();
  });

  it('lists a worker with its direct link address for GET /v1/workers, never its token', async () => {
    const token = 'a-token-only-nats-may-carry';
    await beat('h4', ['e'], 1000, { host: '10.1.2.3', port: 4100, token });
    expect(view.liveBeat('h4')?.direct?.token).toBe(token); // the call path has it
    const listed = view.list().find((w) => w.workerId === 'h4');
    expect(listed?.direct).toEqual({ host: '10.1.2.3', port: 4100 });
    expect(JSON.stringify(view.list())).not.toContain(token);
  });
});
