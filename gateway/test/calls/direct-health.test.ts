/**
 * How a gateway learns that a direct link no longer carries anything (calls/link.ts, links.ts),
 * on a real nats-server with stand-in workers: a link gone silent with both sockets open (a
 * proxy that stops forwarding, as the review had it) is pinged and closed, and a worker
 * restarted under the same id fails the calls it took at once.
 */
import { describe, expect, it } from 'vitest';
import { AT_ONCE_MS, alive, callsTo, rejection, useDirectRig } from './direct-rig.js';
import {
  Beats,
  beatOf,
  type LinkWorker,
  natsWorker,
  StallingProxy,
  sleep,
  text,
  until,
} from './direct-stand-in.js';

const rig = useDirectRig('dh');
/** Short link timings, so a dead link is found in well under a second. */
const linkSettings = { pingMs: 100, deadMs: 300 };
/** Far beyond what any test here waits: a call that waits for it is the fault found. */
const DEADLINE_MS = 10_000;

describe('a direct link that stops carrying', () => {
  it('pings a silent link, closes it when the pings go unanswered: its taken call is answered by replay, the next goes over NATS at once', async () => {
    const { subj, fn } = rig.fresh();
    const w = await rig.worker({ onCall: (c, self) => self.accept(c) });
    const proxy = await StallingProxy.start(w.direct);
    rig.after(() => proxy.close());
    const onNats = natsWorker(rig.nc, subj, fn, { replayAnswer: 'kept answer' });
    const beats = new Beats();
    beats.set(beatOf('w1', [fn], { direct: proxy.via(w.direct) }));
    const c = rig.caller({ liveness: alive, replaySubject: subj.replay, direct: beats, linkSettings });
    await rig.nc.flush();
    const call = callsTo(c, subj, fn, DEADLINE_MS);
    let settled = false;
    const answer = call().finally(() => {
      settled = true;
    });
    await until(() => w.calls.length === 1, 2000, 'the call on the link');
    // Idle but answering its pings, the link stays: the taken call waits for its answer.
    await sleep(5 * linkSettings.pingMs);
    expect(w.pings).toBeGreaterThanOrEqual(2);
    expect(w.closes).toBe(0);
    expect(settled).toBe(false);
    expect(onNats.replays).toHaveLength(0);
    proxy.forwarding = false; // both sockets stay open; nothing passes any more
    const stalled = Date.now();
    expect(text((await answer).data)).toBe('kept answer');
    // A ping at most pingMs after the last pong, dead deadMs later, and two sweeps of slack.
    expect(Date.now() - stalled).toBeLessThan(linkSettings.pingMs + linkSettings.deadMs + 400);
    expect(onNats.replays).toContain(w.calls[0]?.id);
    const t1 = Date.now();
    expect(text((await call()).data)).toBe('from nats');
    expect(Date.now() - t1).toBeLessThan(AT_ONCE_MS);
    expect(w.calls).toHaveLength(1);
  });

  for (const old of ['dies', 'hangs'] as const) {
    it(`fails at once (WORKER_LOST) a call taken by a worker restarted under the same id: the old process ${old}`, async () => {
      const { subj, fn } = rig.fresh();
      const before = await rig.worker({ onCall: (c, self) => self.accept(c) });
      const after = await rig.worker({ onCall: (c, self) => self.serveCall(c, 'second start') });
      const onNats = natsWorker(rig.nc, subj, fn); // answers no replay: nothing kept the answer
      const v = rig.view(subj);
      let current: LinkWorker = before;
      const beat = () => rig.beat(subj, beatOf('w1', [fn], { direct: current.direct }));
      beat();
      const beating = setInterval(beat, 100);
      rig.after(() => clearInterval(beating));
      await until(() => v.liveBeat('w1')?.direct?.port === before.port, 2000, 'the first heartbeat');
      const c = rig.caller({ liveness: v, replaySubject: subj.replay, direct: v, linkSettings });
      const call = callsTo(c, subj, fn, DEADLINE_MS);
      const failed = rejection(call());
      await until(() => before.calls.length === 1, 2000, 'the call on the old link');
      await sleep(100); // its acceptance read
      if (old === 'dies') await before.close();
      current = after; // the new process beats under the same id
      await until(() => v.liveBeat('w1')?.direct?.port === after.port, 2000, 'the new heartbeat');
      const beatAt = Date.now();
      const err = await failed;
      expect(err.code).toBe('WORKER_LOST');
      expect(err.message).toContain('worker w1 restarted while it served the call; it may have run in part');
      expect(Date.now() - beatAt).toBeLessThan(AT_ONCE_MS);
      expect(text((await call()).data)).toBe('second start');
      await until(() => before.closes === 1, 2000, 'the old link closed');
      await rig.nc.flush();
      expect(onNats.got).toHaveLength(0);
    });
  }
});
