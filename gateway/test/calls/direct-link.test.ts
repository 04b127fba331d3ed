/**
 * The Caller's first send on a direct link (calls/link.ts, links.ts), on a real nats-server with
 * stand-in workers on both transports: what goes on the link, what moves to NATS and when (an
 * `elsewhere`, a link closing before or after the worker took the call, a worker that never
 * answers), what is asked for again on NATS, and how a taken call's worker is watched.
 */
import { type Service, startNats } from '@thaw/devkit';
import { createLogger, HeaderBlock, subjects, ThawError, type WorkerHeartbeat } from '@thaw/shared';
import { connect, JSONCodec, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Caller } from '../../src/calls/caller.js';
import { ClusterView, type Liveness } from '../../src/cluster/view.js';
import { Beats, beatOf, LinkWorker, natsWorker, sleep, text, until } from './direct-stand-in.js';

let nats: Service;
let nc: NatsConnection;
let seq = 0;
/** ackTimeoutMs twice what "at once" is held to below, so the two cannot be confused. */
const settings = { ackTimeoutMs: 1000, maxAttempts: 3, checkEveryMs: 50 };
/** What "at once" means here: a few event-loop turns and a NATS round trip, not a timer. */
const AT_ONCE_MS = 500;
const json = JSONCodec<WorkerHeartbeat>();
const log = createLogger('direct-link-test', 'silent');
const cleanup: (() => unknown)[] = [];

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});
afterAll(async () => {
  await nc?.close();
  await nats?.close();
});

const alive: Liveness = { alive: () => true, graceMs: () => 1000 };

/** A test's own subjects and function name. */
function fresh() {
  const n = ++seq;
  return { subj: subjects(`dl${process.pid}t${n}`), fn: `fn-${n}` };
}

async function worker(o: Parameters<typeof LinkWorker.start>[0] = {}): Promise<LinkWorker> {
  const w = await LinkWorker.start(o);
  cleanup.push(() => w.close());
  return w;
}

function caller(o: Omit<ConstructorParameters<typeof Caller>[0], 'nc'>): Caller {
  const c = new Caller({ nc, settings, ...o });
  cleanup.push(() => c.close());
  return c;
}

function view(subj: ReturnType<typeof subjects>): ClusterView {
  const v = new ClusterView({ nc, subjects: subj, log });
  cleanup.push(() => v.close());
  return v;
}

async function rejection(p: Promise<unknown>): Promise<ThawError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ThawError);
  return err as ThawError;
}

describe('Caller over a direct link', () => {
  it('sends the call on the link of the worker that holds the function; its reply resolves it', async () => {
    const { subj, fn } = fresh();
    const w = await worker({
      onCall: (c, self) => {
        const h = new HeaderBlock();
        h.set('x-answer', 'yes');
        self.accept(c);
        self.reply(c, 'from link', h);
      },
    });
    const onNats = natsWorker(nc, subj, fn);
    // The real view, fed by a heartbeat on NATS, as the gateway has it.
    const v = view(subj);
    nc.publish(subj.heartbeat, json.encode(beatOf('w1', [fn], { direct: w.direct })));
    await until(() => v.liveBeat('w1') !== undefined, 2000, 'the heartbeat');
    const c = caller({ liveness: v, replaySubject: subj.replay, direct: v });
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
    await nc.flush();
    expect(onNats.got).toHaveLength(0);
  });

  it('sends a call the worker does not serve (elsewhere) over NATS at once', async () => {
    const { subj, fn } = fresh();
    const w = await worker({ onCall: (c, self) => self.elsewhere(c) });
    const onNats = natsWorker(nc, subj, fn);
    const beats = new Beats();
    beats.set(beatOf('w1', [fn], { direct: w.direct }));
    const c = caller({ liveness: alive, replaySubject: subj.replay, direct: beats });
    await nc.flush();
    const t0 = Date.now();
    const reply = await c.call(subj.invoke(fn), Buffer.from('b'), new HeaderBlock(), 5000, fn);
    expect(text(reply.data)).toBe('from nats');
    expect(Date.now() - t0).toBeLessThan(AT_ONCE_MS);
    expect(w.calls).toHaveLength(1);
    expect(onNats.got).toHaveLength(1);
    expect(c.sends).toEqual({ direct: 1, nats: 1 });
  });

  it('sends a call over NATS at once when its link closes before the worker took it', async () => {
    const { subj, fn } = fresh();
    const w = await worker({ onCall: (c) => c.socket.destroy() });
    const onNats = natsWorker(nc, subj, fn);
    const beats = new Beats();
    beats.set(beatOf('w1', [fn], { direct: w.direct }));
    const c = caller({ liveness: alive, replaySubject: subj.replay, direct: beats });
    await nc.flush();
    const t0 = Date.now();
    const reply = await c.call(subj.invoke(fn), Buffer.from('b'), new HeaderBlock(), 5000, fn);
    expect(text(reply.data)).toBe('from nats');
    expect(Date.now() - t0).toBeLessThan(AT_ONCE_MS);
    expect(w.calls).toHaveLength(1);
    expect(onNats.got).toHaveLength(1);
  });

  it('never resends a call taken before its link closed: asks for its answer on NATS', async () => {
    const { subj, fn } = fresh();
    const w = await worker({
      onCall: (c, self) => {
        self.accept(c);
        setTimeout(() => c.socket.destroy(), 20);
      },
    });
    // The worker answers a call whose link closed on NATS, at the id: here, when asked again.
    const onNats = natsWorker(nc, subj, fn, { replayAnswer: 'kept answer' });
    const beats = new Beats();
    beats.set(beatOf('w1', [fn], { direct: w.direct }));
    const c = caller({ liveness: alive, replaySubject: subj.replay, direct: beats });
    await nc.flush();
    const t0 = Date.now();
    const reply = await c.call(subj.invoke(fn), Buffer.from('b'), new HeaderBlock(), 5000, fn);
    expect(text(reply.data)).toBe('kept answer');
    expect(Date.now() - t0).toBeLessThan(AT_ONCE_MS);
    expect(w.calls).toHaveLength(1);
    expect(onNats.replays).toContain(w.calls[0]?.id);
    await nc.flush();
    expect(onNats.got).toHaveLength(0);
    expect(c.sends).toEqual({ direct: 1, nats: 0 });
  });

  it('fails a call taken on a link with WORKER_LOST soon after its worker stops beating', async () => {
    const { subj, fn } = fresh();
    const w = await worker({ onCall: (c, self) => self.accept(c) });
    const onNats = natsWorker(nc, subj, fn);
    const v = view(subj);
    const beat = () => nc.publish(subj.heartbeat, json.encode(beatOf('w1', [fn], { direct: w.direct })));
    beat();
    const beating = setInterval(beat, 100);
    cleanup.push(() => clearInterval(beating));
    await until(() => v.liveBeat('w1') !== undefined, 2000, 'the heartbeat');
    const c = caller({ liveness: v, replaySubject: subj.replay, direct: v });
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
    const { subj, fn } = fresh();
    const w = await worker(); // accepts the connection, reads, never writes
    const onNats = natsWorker(nc, subj, fn);
    const beats = new Beats();
    beats.set(beatOf('w1', [fn], { direct: w.direct }));
    const c = caller({ liveness: alive, replaySubject: subj.replay, direct: beats });
    await nc.flush();
    const t0 = Date.now();
    const reply = await c.call(subj.invoke(fn), Buffer.from('b'), new HeaderBlock(), 5000, fn);
    const ms = Date.now() - t0;
    expect(text(reply.data)).toBe('from nats');
    expect(ms).toBeGreaterThanOrEqual(settings.ackTimeoutMs);
    expect(ms).toBeLessThan(settings.ackTimeoutMs + 500);
    expect(w.calls).toHaveLength(1);
    expect(onNats.got).toHaveLength(1);
    expect(c.sends).toEqual({ direct: 1, nats: 1 });
  });

  it('does not publish again a call already resent over NATS when its link says elsewhere late', async () => {
    const { subj, fn } = fresh();
    const late = settings.ackTimeoutMs + 150;
    const w = await worker({ onCall: (c, self) => setTimeout(() => self.elsewhere(c), late) });
    const onNats = natsWorker(nc, subj, fn, { answer: false });
    const beats = new Beats();
    beats.set(beatOf('w1', [fn], { direct: w.direct }));
    const c = caller({ liveness: alive, replaySubject: subj.replay, direct: beats });
    await nc.flush();
    void c.call(subj.invoke(fn), Buffer.from('b'), new HeaderBlock(), 10_000, fn).catch(() => undefined);
    await until(() => onNats.got.length === 1, 2000, 'the resend over NATS');
    await sleep(late + 200 - settings.ackTimeoutMs); // the late elsewhere came, the next resend is not due
    await nc.flush();
    expect(onNats.got).toHaveLength(1); // not a second, untracked copy a second worker may run
    expect(c.sends).toEqual({ direct: 1, nats: 1 });
  });

  it('close() fails the pending calls and closes its links', async () => {
    const { subj, fn } = fresh();
    let n = 0;
    const w = await worker({ onCall: (c, self) => n++ === 0 && self.accept(c) }); // one taken, one not
    const onNats = natsWorker(nc, subj, fn);
    const beats = new Beats();
    beats.set(beatOf('w1', [fn], { direct: w.direct }));
    const c = new Caller({ nc, settings, liveness: alive, replaySubject: subj.replay, direct: beats });
    const taken = rejection(c.call(subj.invoke(fn), Buffer.from('1'), new HeaderBlock(), 10_000, fn));
    const untaken = rejection(c.call(subj.invoke(fn), Buffer.from('2'), new HeaderBlock(), 10_000, fn));
    await until(() => w.calls.length === 2, 2000, 'both calls on the link');
    await sleep(50);
    c.close();
    expect((await taken).code).toBe('NO_WORKER');
    expect((await untaken).code).toBe('NO_WORKER');
    await until(() => w.closes === 1, 2000, 'the worker to see the link close');
    await sleep(100);
    await nc.flush();
    expect(onNats.got).toHaveLength(0); // nothing moved to NATS on the way out
    expect(onNats.replays).toHaveLength(0);
  });
});
