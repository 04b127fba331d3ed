/**
 * Stand-ins for the direct-link tests (direct-*.test.ts): a worker's end of the link (a TCP server
 * speaking wire/direct.ts, checking the hello's token as worker/src/direct/server.ts does), a
 * worker on NATS, heartbeats, and a small heartbeat-backed view for DirectLinks.
 */
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import {
  encodeReply,
  encodeSignal,
  FrameReader,
  FrameType,
  HeaderBlock,
  type Subjects,
  type WorkerHeartbeat,
} from '@thaw/shared';
import type { Msg, NatsConnection } from 'nats';
import type { ClusterView } from '../../src/cluster/view.js';

export const HOST = '127.0.0.1';
/** How often `until` looks again. */
const POLL_MS = 5;

/** A call as the stand-in worker read it off the link. */
export interface LinkCall {
  id: string;
  fn: string;
  headers: HeaderBlock;
  data: Buffer;
  socket: Socket;
}

export interface LinkWorkerOptions {
  /** What the worker does with a call; nothing (never answers) when absent. */
  onCall?: (call: LinkCall, w: LinkWorker) => void;
  /** A port of the test's choosing (a reopened one); 0 otherwise. */
  port?: number;
  token?: string;
  /** Whether a `ping` gets a `pong` (default true, as the worker does). */
  pong?: boolean;
  /** Stops reading the socket after the hello (a worker that falls behind): calls pile up in the gateway. */
  stopReading?: boolean;
}

/** The worker's end of a direct link. */
export class LinkWorker {
  readonly calls: LinkCall[] = [];
  /** TCP connections accepted, closed, and dropped for a wrong or missing hello. */
  connections = 0;
  closes = 0;
  badHellos = 0;
  pings = 0;
  /** Drops every connection at its hello, as a worker behind a wrong address does. */
  refuseHellos = false;
  /** When each connection came (Date.now()). */
  readonly connectedAt: number[] = [];
  /** The open connections. */
  readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
    readonly token: string,
  ) {}

  static async start(o: LinkWorkerOptions = {}): Promise<LinkWorker> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port ?? 0, HOST, () => resolve());
    });
    const { port } = server.address() as { port: number };
    const w = new LinkWorker(server, port, o.token ?? randomBytes(16).toString('hex'));
    server.on('connection', (s) => w.serve(s, o));
    return w;
  }

  /** The heartbeat's `direct` for this worker. */
  get direct(): { host: string; port: number; token: string } {
    return { host: HOST, port: this.port, token: this.token };
  }

  private serve(s: Socket, o: LinkWorkerOptions): void {
    this.connections++;
    this.connectedAt.push(Date.now());
    this.sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => {
      this.closes++;
      this.sockets.delete(s);
    });
    const reader = new FrameReader();
    let helloed = false;
    s.on('data', (chunk: Buffer) => {
      for (const f of reader.push(chunk)) {
        if (!helloed) {
          if (this.refuseHellos || f.type !== FrameType.hello || f.token !== this.token) {
            this.badHellos++;
            s.destroy();
            return;
          }
          helloed = true;
          if (o.stopReading) s.pause();
        } else if (f.type === FrameType.ping) {
          this.pings++;
          if (o.pong ?? true) s.write(encodeSignal(FrameType.pong, ''));
        } else if (f.type === FrameType.call) {
          // The frame's views point into a chunk the socket may reuse: keep copies.
          const call = {
            id: f.id,
            fn: f.fn,
            headers: HeaderBlock.parse(Buffer.from(f.headers.encode())) as HeaderBlock,
            data: Buffer.from(f.data),
            socket: s,
          };
          this.calls.push(call);
          o.onCall?.(call, this);
        }
      }
    });
  }

  accept(c: LinkCall): void {
    c.socket.write(encodeSignal(FrameType.accepted, c.id));
  }

  elsewhere(c: LinkCall): void {
    c.socket.write(encodeSignal(FrameType.elsewhere, c.id));
  }

  reply(c: LinkCall, text: string, headers = new HeaderBlock()): void {
    for (const part of encodeReply(c.id, headers.encode(), Buffer.from(text))) c.socket.write(part);
  }

  /** Accepts, then answers `answer`: a worker serving the call. */
  serveCall(c: LinkCall, answer: string): void {
    this.accept(c);
    this.reply(c, answer);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A worker's heartbeat holding `fns`, as the schema has it. */
export function beatOf(
  workerId: string,
  fns: string[],
  extra: Partial<WorkerHeartbeat> = {},
): WorkerHeartbeat {
  return {
    workerId,
    intervalMs: 100,
    draining: false,
    memory: { budgetMiB: 4000, committedMiB: 0 },
    functions: fns.map((name) => ({
      name,
      starting: 0,
      instances: [{ id: `${name}-1`, state: 'frozen', busy: 0, revision: 1 }],
    })),
    ...extra,
  };
}

/** The heartbeats DirectLinks reads, set by the test: `dead` workers have no live beat. */
export class Beats implements Pick<ClusterView, 'holdersOf' | 'liveBeat'> {
  private readonly beats = new Map<string, WorkerHeartbeat>();
  readonly dead = new Set<string>();

  set(beat: WorkerHeartbeat): void {
    this.beats.set(beat.workerId, beat);
  }

  holdersOf(fn: string): ReadonlySet<string> | undefined {
    const out = new Set<string>();
    for (const b of this.beats.values()) if (b.functions.some((f) => f.name === fn)) out.add(b.workerId);
    return out.size > 0 ? out : undefined;
  }

  liveBeat(worker: string): WorkerHeartbeat | undefined {
    return this.dead.has(worker) ? undefined : this.beats.get(worker);
  }
}

/**
 * A worker on NATS for `fn`: records what was published on the invoke subject and answers it
 * (unless told not to), and answers a replay request at each inbox with `replayAnswer`, as a worker
 * re-publishes the answer it kept.
 */
export function natsWorker(
  nc: NatsConnection,
  subj: Subjects,
  fn: string,
  o: { answer?: boolean; replayAnswer?: string } = {},
): { got: Msg[]; replays: string[] } {
  const got: Msg[] = [];
  const replays: string[] = [];
  nc.subscribe(subj.invoke(fn), {
    callback: (_e, msg) => {
      got.push(msg);
      if (o.answer ?? true) msg.respond(Buffer.from('from nats'));
    },
  });
  nc.subscribe(subj.replay, {
    callback: (_e, msg) => {
      for (const inbox of Buffer.from(msg.data).toString().split('\n')) {
        replays.push(inbox);
        if (o.replayAnswer !== undefined) nc.publish(inbox, Buffer.from(o.replayAnswer));
      }
    },
  });
  return { got, replays };
}

/** Resolves once `cond` holds; throws after `ms`. */
export async function until(cond: () => boolean, ms = 2000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const text = (data: Uint8Array) => Buffer.from(data).toString();

/**
 * A TCP proxy in front of a worker's link that can stop forwarding with both sockets left open,
 * as a stalled path or a hung host does (the review's test): the gateway sees nothing close.
 */
export class StallingProxy {
  forwarding = true;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(to: { host: string; port: number }): Promise<StallingProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, HOST, () => resolve()));
    const p = new StallingProxy(server, (server.address() as { port: number }).port);
    server.on('connection', (down) => {
      const up = connect({ host: to.host, port: to.port });
      for (const [from, into] of [
        [down, up],
        [up, down],
      ] as const) {
        p.sockets.add(from);
        from.on('error', () => undefined);
        from.on('data', (chunk) => p.forwarding && into.write(chunk));
        from.on('close', () => into.destroy());
      }
    });
    return p;
  }

  /** `direct` with this proxy's address in place of the worker's. */
  via(direct: { host: string; port: number; token: string }): { host: string; port: number; token: string } {
    return { ...direct, host: HOST, port: this.port };
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
