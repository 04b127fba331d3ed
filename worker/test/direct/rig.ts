/**
 * The set-up the DirectServer tests (server.test.ts, limits.test.ts) share: one real nats-server
 * per file, a server and the links a test opened closed after it, and a stand-in pool.
 */
import { type Service, startNats } from '@thaw/devkit';
import { createLogger, type InvokeRequest } from '@thaw/shared';
import { connect, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type DirectAddress, DirectServer, type DirectServerOptions } from '../../src/direct/server.js';
import { InvokeHandler } from '../../src/invoke/handler.js';
import type { InvokeResult } from '../../src/pool/forward.js';
import type { FunctionHost } from '../../src/pool/function-host.js';
import { RawLink } from './raw-link.js';

/** The one function the rig's servers hold a pool for. */
export const FN = 'echo';

export interface StandInOptions {
  /** Runs wait until `release`. */
  hold?: boolean;
  /** The answer to run number `run` (from 1); by default `ran <run>: <body>` with status 201. */
  answer?: (req: InvokeRequest, run: number) => InvokeResult;
}

export interface StandIn {
  pool: FunctionHost;
  runs: InvokeRequest[];
  /** Resolves when the first run started. */
  running: Promise<void>;
  release: () => void;
  /** `fn` runs once the handler wrote a run's answer (see below). */
  onAnswer: (fn: () => void) => void;
}

const echo = (req: InvokeRequest, run: number): InvokeResult => ({
  ok: true,
  status: 201,
  headers: { 'x-run': String(run), 'x-ä': 'ö' },
  body: Buffer.concat([Buffer.from(`ran ${run}: `), req.body]),
});

/** Only what the handler reads of a pool: invoke() and saturated. */
export function standInPool(o: StandInOptions = {}): StandIn {
  const runs: InvokeRequest[] = [];
  let release: () => void = () => undefined;
  const released = new Promise<void>((r) => {
    release = r;
  });
  let started: () => void = () => undefined;
  const running = new Promise<void>((r) => {
    started = r;
  });
  let answered: () => void = () => undefined;
  const pool = {
    saturated: false,
    invoke: async (req: InvokeRequest) => {
      runs.push(req);
      started();
      if (o.hold) await released;
      // Runs after the handler wrote the answer: it queues it for this turn's check phase
      // (SendBatch), after this immediate; the one this schedules comes a turn later.
      setImmediate(() => setImmediate(() => answered()));
      return (o.answer ?? echo)(req, runs.length);
    },
  } as unknown as FunctionHost;
  const onAnswer = (fn: () => void) => {
    answered = fn;
  };
  return { pool, runs, running, release, onAnswer };
}

export interface DirectServerRig {
  readonly nc: NatsConnection;
  /** A server holding `pool` for FN on a free loopback port, closed after the test. */
  serve(
    pool: FunctionHost,
    o?: Partial<DirectServerOptions>,
  ): Promise<{ handler: InvokeHandler; at: DirectAddress }>;
  /** A link to `port`, destroyed after the test. */
  open(port: number): Promise<RawLink>;
  /** Closes the server now (not again after the test). */
  close(): Promise<void>;
}

/** Registers the hooks of a test file and returns its rig; `name` names its worker and logger. */
export function useDirectServerRig(name: string): DirectServerRig {
  let nats: Service | undefined;
  let conn: NatsConnection | undefined;
  let server: DirectServer | undefined;
  const links: RawLink[] = [];

  beforeAll(async () => {
    nats = await startNats();
    conn = await connect({ servers: nats.url });
  });
  afterEach(async () => {
    for (const l of links.splice(0)) l.destroy();
    await rig.close();
  });
  afterAll(async () => {
    await conn?.close();
    await nats?.close();
  });

  const rig: DirectServerRig = {
    get nc(): NatsConnection {
      if (conn === undefined) throw new Error('the rig is used before its beforeAll ran');
      return conn;
    },
    async serve(pool, o = {}) {
      const handler = new InvokeHandler({ workerId: `w-${name}` });
      server = new DirectServer({
        host: '127.0.0.1',
        port: 0,
        route: (fn) => (fn === FN ? () => pool : undefined),
        handler,
        nc: rig.nc,
        log: createLogger(`${name}-test`, 'silent'),
        ...o,
      });
      return { handler, at: await server.listen() };
    },
    async open(port) {
      const link = await RawLink.open(port);
      links.push(link);
      return link;
    },
    async close() {
      const s = server;
      server = undefined;
      await s?.close();
    },
  };
  return rig;
}
