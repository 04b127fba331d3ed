/**
 * The set-up the direct-link tests (direct-*.test.ts) share: one real nats-server per file,
 * things a test makes closed after it, and the usual one-worker link (`oneLink`).
 */
import { type Service, startNats } from '@thaw/devkit';
import {
  createLogger,
  HeaderBlock,
  type Subjects,
  subjects,
  ThawError,
  type WorkerHeartbeat,
} from '@thaw/shared';
import { connect, JSONCodec, type Msg, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { Caller } from '../../src/calls/caller.js';
import type { CallReply } from '../../src/calls/pending.js';
import { ClusterView, type Liveness } from '../../src/cluster/view.js';
import { Beats, beatOf, LinkWorker, type LinkWorkerOptions, natsWorker } from './direct-stand-in.js';

/** ackTimeoutMs twice what "at once" is held to below, so the two cannot be confused. */
export const settings = { ackTimeoutMs: 1000, maxAttempts: 3, checkEveryMs: 50 };
/** What "at once" means here: a few event-loop turns and a NATS round trip, not a timer. */
export const AT_ONCE_MS = 500;
/** Every worker counts as alive: for tests whose heartbeats come from `Beats`, not NATS. */
export const alive: Liveness = { alive: () => true, graceMs: () => 1000 };
/** How long a call may take unless a test says otherwise. */
const CALL_TIMEOUT_MS = 5000;
const heartbeats = JSONCodec<WorkerHeartbeat>();

/** The ThawError `p` rejects with; fails the test when it resolves or rejects with anything else. */
export async function rejection(p: Promise<unknown>): Promise<ThawError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ThawError);
  return err as ThawError;
}

/**
 * Calls to `fn` through `c` with body `body` (default 'b') and no headers, each waiting
 * `timeoutMs` unless given its own.
 */
export function callsTo(c: Caller, subj: Subjects, fn: string, timeoutMs = CALL_TIMEOUT_MS) {
  return (body = 'b', ms = timeoutMs): Promise<CallReply> =>
    c.call(subj.invoke(fn), Buffer.from(body), new HeaderBlock(), ms, fn);
}

type CallerOptions = Omit<ConstructorParameters<typeof Caller>[0], 'nc'>;

/** One worker holding `fn` with a link, the same worker on NATS, and a Caller that sees only it. */
export interface OneLink {
  subj: Subjects;
  fn: string;
  w: LinkWorker;
  onNats: { got: Msg[]; replays: string[] };
  beats: Beats;
  c: Caller;
  /** A call to `fn` with body `body` and no headers. */
  call(body?: string, timeoutMs?: number): Promise<CallReply>;
}

export interface OneLinkOptions {
  onCall?: LinkWorkerOptions['onCall'];
  /** The stand-in worker's other options. */
  worker?: Omit<LinkWorkerOptions, 'onCall'>;
  nats?: Parameters<typeof natsWorker>[3];
  /** The Caller's, past the rig's. */
  caller?: Partial<Omit<CallerOptions, 'liveness' | 'direct'>>;
}

export interface DirectRig {
  readonly nc: NatsConnection;
  /** A test's own subjects and function name. */
  fresh(): { subj: Subjects; fn: string };
  worker(o?: LinkWorkerOptions): Promise<LinkWorker>;
  caller(o: CallerOptions): Caller;
  view(subj: Subjects): ClusterView;
  /** Publishes `beat` on `subj`'s heartbeat subject, as a worker does. */
  beat(subj: Subjects, beat: WorkerHeartbeat): void;
  /** Runs `fn` after this test. */
  after(fn: () => unknown): void;
  oneLink(o?: OneLinkOptions): Promise<OneLink>;
}

/** Registers the hooks of a test file named `name` (its subjects' prefix) and returns its rig. */
export function useDirectRig(name: string): DirectRig {
  let nats: Service | undefined;
  let conn: NatsConnection | undefined;
  let seq = 0;
  const log = createLogger(`${name}-test`, 'silent');
  const cleanup: (() => unknown)[] = [];

  beforeAll(async () => {
    nats = await startNats();
    conn = await connect({ servers: nats.url });
  });
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });
  afterAll(async () => {
    await conn?.close();
    await nats?.close();
  });

  const rig: DirectRig = {
    get nc(): NatsConnection {
      if (conn === undefined) throw new Error('the rig is used before its beforeAll ran');
      return conn;
    },
    fresh() {
      const n = ++seq;
      return { subj: subjects(`${name}${process.pid}t${n}`), fn: `fn-${n}` };
    },
    async worker(o = {}) {
      const w = await LinkWorker.start(o);
      cleanup.push(() => w.close());
      return w;
    },
    caller(o) {
      const c = new Caller({ nc: rig.nc, settings, ...o });
      cleanup.push(() => c.close());
      return c;
    },
    view(subj) {
      const v = new ClusterView({ nc: rig.nc, subjects: subj, log });
      cleanup.push(() => v.close());
      return v;
    },
    beat(subj, beat) {
      rig.nc.publish(subj.heartbeat, heartbeats.encode(beat));
    },
    after(fn) {
      cleanup.push(fn);
    },
    async oneLink(o = {}) {
      const { subj, fn } = rig.fresh();
      const w = await rig.worker({ ...o.worker, ...(o.onCall && { onCall: o.onCall }) });
      const onNats = natsWorker(rig.nc, subj, fn, o.nats);
      const beats = new Beats();
      beats.set(beatOf('w1', [fn], { direct: w.direct }));
      const c = rig.caller({ replaySubject: subj.replay, ...o.caller, liveness: alive, direct: beats });
      // The NATS worker's subscriptions are in place before the first call.
      await rig.nc.flush();
      const call = callsTo(c, subj, fn);
      return { subj, fn, w, onNats, beats, c, call };
    },
  };
  return rig;
}
