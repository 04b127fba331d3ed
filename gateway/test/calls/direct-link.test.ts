/**
 * The Caller's first send on a direct link (calls/link.ts, links.ts), on a real nats-server with
 * stand-in workers on both transports: what goes on the link, what moves to NATS and when (an
 * `elsewhere`, a link closing before or after the worker took the call, a worker that never
 * answers), what is asked for again on NATS, and how a taken call's worker is watched.
 */
import { HeaderBlock } from '@thaw/shared';
import { describe, expect, it } from 'vitest';
import { AT_ONCE_MS, type OneLink, rejection, settings, useDirectRig } from './direct-rig.js';
import { beatOf, natsWorker, sleep, text, until } from './direct-stand-in.js';

const rig = useDirectRig('dl');

/** One call, sent on the link first, answered over NATS well before ackTimeoutMs. */
async function answeredOverNatsAtOnce({ w, onNats, call }: OneLink): Promise<void> {
  const t0 = Date.now();
  const reply = await call();
  expect(text(reply.data)).toBe('from nats');
  expect(Date.now() - t0).toBeLessThan(AT_ONCE_MS);
  expect(w.calls).toHaveLength(1);
  expect(onNats.got).toHaveLength(1);
}

describe('Caller over a direct link', () => {
  it('sends the call on the link of the worker that holds the function; its reply resolves it', async () => {
    const { subj, fn } = rig.fresh();
    const w = await rig.worker({
      onCall: (c, self) => {
        const h = new HeaderBlock();
        h.set('x-answer', 'yes');
        self.accept(c);
        self.reply(c, 'from link', h);
      },
    });
    const onNats = natsWorker(rig.nc, subj, fn);
    // The real view, fed by a heartbeat on NATS, as the gateway has it.
    const v = rig.view(subj);
    rig.beat(subj, beatOf('w1', [fn], { direct: w.direct }));
    await until(() => v.liveBeat('w1') !== undefined, 2000, 'the heartbeat');
    const c = rig.caller({ liveness: v, replaySubject: subj.replay, direct: v });
    const h = new HeaderBlock();
    h.set('thaw-path', '/hello');
    const reply = await c.call(subj.invoke(fn), Buffer.from('the body'), h, 5000, fn);
    expect(text(reply.data)).toBe('from link');
    expect(reply.headers?.get('x-answer')).toBe('yes');
    expect(w.calls).toHaveLength(1);
    const got = w.calls[0];
    expect(got?.fn).toBe(fn);
    expect(got?.id).toMatch(/^_INBOX\./); // the call's NATS inbox, its id on both transports
    expect(Buffer.from(got?.headers.encode() ?? [])).toEqual(Buffer.from(h.encode()));
    expect(got?.data.toString()).toBe('the body');
    expect(w.badHellos).toBe(0);
    expect(c.sends).toEqual({ direct: 1, nats: 0 });
    await rig.nc.flush();
    expect(onNats.got).toHaveLength(0);
  });

  it('sends a call the worker does not serve (elsewhere) over NATS at once', async () => {
    const one = await rig.oneLink({ onCall: (c, self) => self.elsewhere(c) });
    await answeredOverNatsAtOnce(one);
    expect(one.c.sends).toEqual({ direct: 1, nats: 1 });
  });

  it('sends a call over NATS at once when its link closes before the worker took it', async () => {
    await answeredOverNatsAtOnce(await rig.oneLink({ onCall: (c) => c.socket.destroy() }));
  });

  it('never resends a call taken before its link closed: asks for its answer on NATS', async () => {
    const { w, onNats, c, call } = await rig.oneLink({
      onCall: (c, self) => {
        self.accept(c);
        setTimeout(() => c.socket.destroy(), 20);
      },
      // The worker answers a call whose link closed on NATS, at the id: here, when asked again.
      nats: { replayAnswer: 'kept answer' },
    });
    const t0 = Date.now();
    const reply = await call();
    expect(text(reply.data)).toBe('kept answer');
    expect(Date.now() - t0).toBeLessThan(AT_ONCE_MS);
    expect(w.calls).toHaveLength(1);
    expect(onNats.replays).toContain(w.calls[0]?.id);
    await rig.nc.flush();
    expect(onNats.got).toHaveLength(0);
    expect(c.sends).toEqual({ direct: 1, nats: 0 });
  });

  it('fails a call taken on a link with WORKER_LOST soon after its worker stops beating', async () => {
    const { subj, fn } = rig.fresh();
    const w = await rig.worker({ onCall: (c, self) => self.accept(c) });
    const onNats = natsWorker(rig.nc, subj, fn);
    const v = rig.view(subj);
    const beat = () => rig.beat(subj, beatOf('w1', [fn], { direct: w.direct }));
    beat();
    const beating = setInterval(beat, 100);
    rig.after(() => clearInterval(beating));
    await until(() => v.liveBeat('w1') !== undefined, 2000, 'the heartbeat');
    const c = rig.caller({ liveness: v, replaySubject: subj.replay, direct: v });
    const failed = rejection(c.call(subj.invoke(fn), Buffer.from('b'), new HeaderBlock(), 10_000, fn));
    await until(() => w.calls.length === 1, 2000, 'the call on the link');
    await sleep(300); // taken, and watched while the worker beats
    clearInterval(beating);
    const stopped = Date.now();
    await until(() => v.alive('w1') === false, 2000, 'the worker to count as lost');
    const lostAt = Date.now();
    const err = await failed;
    expect(err.code).toBe('WORKER_LOST');
    expect(Date.now() - lostAt).toBeLessThan(1000);
    expect(Date.now() - stopped).toBeLessThan(1500);
    expect(onNats.got).toHaveLength(0);
  });

  it('resends over NATS, after ackTimeoutMs, a call a silent link never took', async () => {
    const { w, onNats, c, call } = await rig.oneLink(); // accepts the connection, reads, never writes
    const t0 = Date.now();
    const reply = await call();
    const ms = Date.now() - t0;
    expect(text(reply.data)).toBe('from nats');
    expect(ms).toBeGreaterThanOrEqual(settings.ackTimeoutMs);
    expect(ms).toBeLessThan(settings.ackTimeoutMs + 500);
    expect(w.calls).toHaveLength(1);
    expect(onNats.got).toHaveLength(1);
    expect(c.sends).toEqual({ direct: 1, nats: 1 });
  });

  it('does not publish again a call already resent over NATS when its link says elsewhere late', async () => {
    const late = settings.ackTimeoutMs + 150;
    const { onNats, c, call } = await rig.oneLink({
      onCall: (c, self) => setTimeout(() => self.elsewhere(c), late),
      nats: { answer: false },
    });
    void call('b', 10_000).catch(() => undefined);
    await until(() => onNats.got.length === 1, 2000, 'the resend over NATS');
    await sleep(late + 200 - settings.ackTimeoutMs); // the late elsewhere came, the next resend is not due
    await rig.nc.flush();
    expect(onNats.got).toHaveLength(1); // not a second, untracked copy a second worker may run
    expect(c.sends).toEqual({ direct: 1, nats: 1 });
  });

  it('close() fails the pending calls and closes its links', async () => {
    let n = 0;
    const { w, onNats, c, call } = await rig.oneLink({
      onCall: (c, self) => n++ === 0 && self.accept(c), // one taken, one not
    });
    const taken = rejection(call('1', 10_000));
    const untaken = rejection(call('2', 10_000));
    await until(() => w.calls.length === 2, 2000, 'both calls on the link');
    await sleep(50);
    c.close();
    expect((await taken).code).toBe('NO_WORKER');
    expect((await untaken).code).toBe('NO_WORKER');
    await until(() => w.closes === 1, 2000, 'the worker to see the link close');
    await sleep(100);
    await rig.nc.flush();
    expect(onNats.got).toHaveLength(0); // nothing moved to NATS on the way out
    expect(onNats.replays).toHaveLength(0);
  });
});
