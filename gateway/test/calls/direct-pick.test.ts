/**
 * Which worker a call's link goes to (calls/links.ts), on a real nats-server with stand-in
 * workers: the fewest calls in flight among the live, non-draining holders that serve a link; a
 * refused worker left alone for REDIAL_AFTER_MS; a restarted worker dialled at its new address;
 * no links at all without `direct` (THAW_DIRECT=off).
 */
import { HeaderBlock } from '@thaw/shared';
import { describe, expect, it } from 'vitest';
import { REDIAL_AFTER_MS } from '../../src/calls/links.js';
import { AT_ONCE_MS, alive, callsTo, useDirectRig } from './direct-rig.js';
import {
  Beats,
  beatOf,
  type LinkCall,
  LinkWorker,
  natsWorker,
  sleep,
  text,
  until,
} from './direct-stand-in.js';

const rig = useDirectRig('dp');

/** Answers 'from link' to every call. */
const answering = { onCall: (c: LinkCall, w: LinkWorker) => w.serveCall(c, 'from link') };

describe('which link a call goes on', () => {
  it('leaves a refused worker alone for REDIAL_AFTER_MS, its calls over NATS at once, then dials it again', async () => {
    const { subj, fn } = rig.fresh();
    const probe = await LinkWorker.start();
    const { port, token } = probe;
    await probe.close(); // nothing listens there now: connections are refused
    const onNats = natsWorker(rig.nc, subj, fn);
    const beats = new Beats();
    beats.set(beatOf('w1', [fn], { direct: probe.direct }));
    const c = rig.caller({ liveness: alive, replaySubject: subj.replay, direct: beats });
    await rig.nc.flush();
    const call = callsTo(c, subj, fn);
    const t0 = Date.now();
    expect(text((await call()).data)).toBe('from nats');
    const refused = Date.now(); // the refusal came before this answer
    expect(refused - t0).toBeLessThan(AT_ONCE_MS);
    const w = await rig.worker({ ...answering, port, token }); // the worker listens again
    expect(text((await call()).data)).toBe('from nats');
    await sleep(REDIAL_AFTER_MS - 300 - (Date.now() - t0));
    expect(text((await call()).data)).toBe('from nats'); // still within REDIAL_AFTER_MS
    expect(w.connections).toBe(0);
    await sleep(REDIAL_AFTER_MS + 20 - (Date.now() - refused));
    expect(text((await call()).data)).toBe('from link');
    expect(w.connections).toBe(1);
    expect(onNats.got).toHaveLength(3);
  });

  it('sends the next calls to the holder with the fewest in flight; never to a draining, dead or linkless one', async () => {
    // A (worker w1) and B take their calls and hold them unanswered.
    const hold = { onCall: (c: LinkCall, self: LinkWorker) => self.accept(c) };
    const { fn, w: a, onNats, beats, call } = await rig.oneLink(hold);
    const b = await rig.worker(hold);
    const draining = await rig.worker(answering);
    const dead = await rig.worker(answering);
    for (let i = 0; i < 3; i++) void call().catch(() => undefined);
    await until(() => a.calls.length === 3, 2000, 'three calls on A');
    beats.set(beatOf('wb', [fn], { direct: b.direct }));
    void call().catch(() => undefined);
    await until(() => b.calls.length === 1, 2000, 'a call on B');
    void call().catch(() => undefined);
    await until(() => b.calls.length === 2, 2000, 'a second call on B');
    expect(a.calls).toHaveLength(3);
    // Holders with nothing in flight that must not be picked: B (two in flight) still gets the call.
    beats.set(beatOf('wd', [fn], { direct: draining.direct, draining: true }));
    beats.set(beatOf('wx', [fn], { direct: dead.direct }));
    beats.dead.add('wx');
    beats.set(beatOf('wn', [fn])); // serves calls over NATS only
    void call().catch(() => undefined);
    await until(() => b.calls.length === 3, 2000, 'a third call on B');
    // Only the linkless one left with A and B out of the picture: the call goes over NATS.
    beats.set(beatOf('w1', ['other']));
    beats.set(beatOf('wb', ['other']));
    const t0 = Date.now();
    expect(text((await call()).data)).toBe('from nats');
    expect(Date.now() - t0).toBeLessThan(AT_ONCE_MS);
    expect(a.calls).toHaveLength(3);
    expect(b.calls).toHaveLength(3);
    expect(draining.connections).toBe(0);
    expect(dead.connections).toBe(0);
    expect(onNats.got).toHaveLength(1);
  });

  it('dials a worker restarted under the same id at its new address, and closes the old link', async () => {
    const { subj, fn } = rig.fresh();
    const before = await rig.worker({ onCall: (c, self) => self.serveCall(c, 'first start') });
    const after = await rig.worker({ onCall: (c, self) => self.serveCall(c, 'second start') });
    const v = rig.view(subj);
    const beat = (w: LinkWorker) => rig.beat(subj, beatOf('w1', [fn], { direct: w.direct }));
    beat(before);
    await until(() => v.liveBeat('w1')?.direct?.port === before.port, 2000, 'the first heartbeat');
    const c = rig.caller({ liveness: v, replaySubject: subj.replay, direct: v });
    const call = callsTo(c, subj, fn);
    expect(text((await call()).data)).toBe('first start');
    beat(after); // a new process: a new port and token
    await until(() => v.liveBeat('w1')?.direct?.port === after.port, 2000, 'the restarted heartbeat');
    expect(text((await call()).data)).toBe('second start');
    expect(after.connections).toBe(1);
    expect(after.badHellos).toBe(0);
    await until(() => before.closes === 1, 2000, 'the old link to close');
    expect(before.calls).toHaveLength(1);
    expect(c.sends).toEqual({ direct: 2, nats: 0 });
  });

  it('closes the link of a worker whose heartbeats stopped (no TCP reset came): untaken calls on it go over NATS', async () => {
    // A worker that reads calls and never answers: its host "vanished" with the socket open.
    const { w, onNats, beats, call } = await rig.oneLink({ onCall: () => undefined });
    const answer = call();
    await until(() => w.calls.length === 1, 2000, 'the call on the link');
    const t0 = Date.now();
    beats.dead.add('w1');
    expect(text((await answer).data)).toBe('from nats');
    // Well before ackTimeoutMs (1 s): the sweep (50 ms here) closed the link.
    expect(Date.now() - t0).toBeLessThan(AT_ONCE_MS);
    await until(() => w.closes === 1, 2000, 'the link to close');
    expect(onNats.got).toHaveLength(1);
  });

  it('dials only the worker it picks: one call to three holders opens one connection', async () => {
    const { fn, w, beats, call } = await rig.oneLink(answering);
    const others = [await rig.worker(answering), await rig.worker(answering)];
    beats.set(beatOf('w2', [fn], { direct: others[0]?.direct }));
    beats.set(beatOf('w3', [fn], { direct: others[1]?.direct }));
    expect(text((await call()).data)).toBe('from link');
    await sleep(50); // any other dial would have reached its worker by now
    expect(w.connections + (others[0]?.connections ?? 0) + (others[1]?.connections ?? 0)).toBe(1);
  });

  it('redials a worker whose links fail before any frame after doubling waits up to the cap; a frame resets them', async () => {
    const base = 100;
    const cap = 400;
    // Every link closes at the hello, as to an address that reaches no worker.
    const { subj, fn, w, c } = await rig.oneLink({
      ...answering,
      caller: { linkSettings: { redialAfterMs: base, redialMaxMs: cap } },
    });
    w.refuseHellos = true;
    const call = callsTo(c, subj, fn);
    const callsUntil = async (cond: () => boolean, ms: number) => {
      const end = Date.now() + ms;
      while (!cond() && Date.now() < end) await call();
    };
    await callsUntil(() => w.connections === 5, 3000);
    expect(w.badHellos).toBe(5);
    const gaps = w.connectedAt.slice(1).map((t, i) => t - (w.connectedAt[i] as number));
    // Each wait from a failure (a few ms after its dial) to the next dial: 100, 200, 400, 400.
    [base, 2 * base, cap, cap].forEach((wait, i) => {
      expect(gaps[i]).toBeGreaterThanOrEqual(wait);
      expect(gaps[i]).toBeLessThan(wait + 150);
    });
    // A link that works (frames come), then closes: the next wait is the first again.
    w.refuseHellos = false;
    await callsUntil(() => w.connections === 6, 1000);
    expect(text((await call()).data)).toBe('from link');
    for (const s of w.sockets) s.destroy();
    await until(() => w.closes === 6, 1000, 'the working link closed');
    const closedAt = Date.now();
    await callsUntil(() => w.connections === 7, 1000);
    expect(Date.now() - closedAt).toBeLessThan(base + 150);
    expect(w.badHellos).toBe(5);
  });

  it('without `direct` (THAW_DIRECT=off) sends every call over NATS, links advertised or not', async () => {
    const { subj, fn } = rig.fresh();
    const w = await rig.worker(answering);
    const onNats = natsWorker(rig.nc, subj, fn);
    const v = rig.view(subj);
    rig.beat(subj, beatOf('w1', [fn], { direct: w.direct }));
    await until(() => v.liveBeat('w1') !== undefined, 2000, 'the heartbeat');
    const c = rig.caller({ liveness: v, replaySubject: subj.replay });
    for (let i = 0; i < 3; i++) {
      const reply = await c.call(subj.invoke(fn), Buffer.from('b'), new HeaderBlock(), 5000, fn);
      expect(text(reply.data)).toBe('from nats');
    }
    expect(w.connections).toBe(0);
    expect(onNats.got).toHaveLength(3);
    expect(c.sends).toEqual({ direct: 0, nats: 3 });
  });
});
