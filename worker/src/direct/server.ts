import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import {
  encodeReply,
  encodeSignal,
  type Frame,
  FrameReader,
  FrameType,
  FrameWriter,
  type HeaderBlock,
  isCallId,
  type Logger,
} from '@thaw/shared';
import type { MsgHdrs, NatsConnection } from 'nats';
import type { IncomingCall, InvokeHandler } from '../invoke/handler.js';
import type { FunctionHost } from '../pool/function-host.js';
import { RefusalLog } from './refusals.js';

/**
 * A peer must name itself with the token this soon after connecting, or is dropped. Gateways send
 * the hello in their first write, so this is a round trip's grace, not a wait for anything.
 */
export const HELLO_TIMEOUT_MS = 1000;
/** The first frame (the hello) is small: a peer without the token cannot make this worker buffer more. */
const HELLO_MAX_BYTES = 4096;
/** Links (peers that sent the token) at once: a few per gateway is normal (one each, plus reconnects). */
export const MAX_LINKS = 1024;
/**
 * Connections that have not sent the hello yet, at once; a new one beyond closes the oldest.
 * Counted apart from MAX_LINKS so that silent sockets cannot use up the room of gateways' links.
 */
export const MAX_UNAUTHENTICATED = 64;
/**
 * A link on which nothing at all came for this long is closed: gateways ping about every 0.5 s
 * while a link is open, so its gateway is gone (a vanished host resets nothing).
 */
export const LINK_IDLE_MS = 10_000;
/** close() ends links so written replies reach the gateways; those still open after this are cut. */
export const CLOSE_GRACE_MS = 1000;

export interface DirectServerOptions {
  /** The address to listen on, which gateways dial (advertised in heartbeats). */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /**
   * The pool serving `fn` now, read per call as NATS's subscription does (a roll switches it);
   * undefined when this worker does not serve `fn` (or drains): the call goes back to NATS.
   */
  route(fn: string): (() => FunctionHost | undefined) | undefined;
  handler: InvokeHandler;
  /** Where answers go when their link closed before they were ready: the call's NATS inbox. */
  nc: NatsConnection;
  log: Logger;
  /** Default HELLO_TIMEOUT_MS (tests shorten it). */
  helloTimeoutMs?: number;
  /** Default LINK_IDLE_MS. */
  idleMs?: number;
  /** Default MAX_UNAUTHENTICATED. */
  maxUnauthenticated?: number;
  /** Default MAX_LINKS. */
  maxLinks?: number;
  /** Default CLOSE_GRACE_MS. */
  closeGraceMs?: number;
}

/** What gateways need to dial this worker (the heartbeat's `direct`). */
export interface DirectAddress {
  host: string;
  port: number;
  token: string;
}

/** One connection: before the hello (`gateway` undefined) or a link. */
interface Peer {
  readonly socket: Socket;
  readonly remote: string;
  readonly openedAt: number;
  heardAt: number;
  gateway: string | undefined;
}

/**
 * The worker's end of the gateways' direct links (wire/direct.ts): calls without nats-server on
 * the path. Served by the same InvokeHandler as NATS calls: accepted at once, run once, answered
 * on the link, or on NATS when the link is gone by then.
 */
export class DirectServer {
  private readonly server: Server;
  private readonly token = randomBytes(24).toString('base64url');
  /** Connected, no hello yet. */
  private readonly pending = new Set<Peer>();
  /** Said hello with the token. */
  private readonly links = new Set<Peer>();
  private readonly refusals: RefusalLog;
  private readonly helloTimeoutMs: number;
  private readonly idleMs: number;
  private sweeper: NodeJS.Timeout | undefined;
  private closing = false;
  private address: DirectAddress | undefined;

  constructor(private readonly o: DirectServerOptions) {
    this.helloTimeoutMs = o.helloTimeoutMs ?? HELLO_TIMEOUT_MS;
    this.idleMs = o.idleMs ?? LINK_IDLE_MS;
    this.refusals = new RefusalLog({ log: o.log });
    this.server = createServer((socket) => this.serve(socket));
  }

  /** Listens; resolves to what the heartbeat advertises. */
  async listen(): Promise<DirectAddress> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port, this.o.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const bound = this.server.address();
    if (!bound || typeof bound === 'string') throw new Error('direct link server has no TCP address');
    // One timer for every connection: hello timeouts and idle links are found within a quarter
    // of their time.
    this.sweeper = setInterval(() => this.sweep(), Math.min(this.helloTimeoutMs, this.idleMs) / 4);
    this.sweeper.unref();
    this.address = { host: this.o.host, port: bound.port, token: this.token };
    return this.address;
  }

  /** Undefined until listening. */
  advertised(): DirectAddress | undefined {
    return this.address;
  }

  /**
   * Stops listening and closes every link (after the worker drained its calls): ended, so the
   * replies written on them are sent first; cut after the grace when a peer does not close its end.
   */
  close(): Promise<void> {
    this.closing = true;
    clearInterval(this.sweeper);
    this.refusals.flush();
    for (const p of this.pending) p.socket.destroy();
    for (const p of this.links) p.socket.end();
    const grace = setTimeout(() => {
      for (const p of this.links) p.socket.destroy();
    }, this.o.closeGraceMs ?? CLOSE_GRACE_MS);
    return new Promise<void>((resolve) => {
      if (!this.server.listening) resolve();
      else this.server.close(() => resolve());
    }).finally(() => clearTimeout(grace));
  }

  private serve(socket: Socket): void {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    if (this.closing) {
      socket.destroy();
      return;
    }
    const maxPending = this.o.maxUnauthenticated ?? MAX_UNAUTHENTICATED;
    if (this.pending.size >= maxPending) {
      // The oldest goes, not the newcomer: a gateway sends its hello in its first write, so
      // whoever has held a slot longest is the likeliest to be silent on purpose, and sockets
      // opened and held cannot keep a gateway out.
      const [oldest] = this.pending;
      if (oldest) {
        this.pending.delete(oldest);
        this.refusals.refused(
          `over ${maxPending} connections without a hello (the oldest closed)`,
          oldest.remote,
        );
        oldest.socket.destroy();
      }
    }
    socket.setNoDelay(true);
    const now = Date.now();
    const peer: Peer = { socket, remote, openedAt: now, heardAt: now, gateway: undefined };
    this.pending.add(peer);
    const reader = new FrameReader({ firstFrameMaxBytes: HELLO_MAX_BYTES });
    const writer = new FrameWriter(socket);
    socket.on('data', (chunk: Buffer) => {
      // Calls that come while the server closes are not taken: the gateway sends them on NATS.
      if (this.closing) return;
      peer.heardAt = Date.now();
      let frames: Frame[];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        this.refuse(peer, (err as Error).message);
        return;
      }
      for (const f of frames) {
        if (socket.destroyed) return;
        this.frame(peer, f, writer);
      }
    });
    socket.on('error', () => undefined); // 'close' follows
    socket.on('close', () => {
      this.pending.delete(peer);
      this.links.delete(peer);
    });
  }

  private frame(peer: Peer, f: Frame, writer: FrameWriter): void {
    if (peer.gateway === undefined) {
      if (f.type !== FrameType.hello || !this.tokenMatches(f.token)) {
        this.refuse(peer, 'the first frame is not a hello with this worker’s token');
        return;
      }
      const maxLinks = this.o.maxLinks ?? MAX_LINKS;
      if (this.links.size >= maxLinks) {
        this.refuse(peer, `over ${maxLinks} links`);
        return;
      }
      peer.gateway = f.id;
      this.pending.delete(peer);
      this.links.add(peer);
      return;
    }
    if (f.type === FrameType.ping) {
      writer.write([encodeSignal(FrameType.pong, '')]);
      return;
    }
    if (f.type !== FrameType.call) {
      this.refuse(peer, `unexpected frame type ${f.type}`);
      return;
    }
    // The id is where the answer is published when the link is gone: anything but a literal
    // subject would be written into the NATS protocol as it is.
    if (!isCallId(f.id)) {
      this.refuse(peer, 'a call id that is not a NATS subject');
      return;
    }
    const host = this.o.route(f.fn);
    if (!host) {
      writer.write([encodeSignal(FrameType.elsewhere, f.id)]);
      return;
    }
    void this.o.handler.serve(this.call(f.id, f.headers, f.data, writer), host);
  }

  private sweep(): void {
    const now = Date.now();
    for (const p of this.pending) {
      if (now - p.openedAt >= this.helloTimeoutMs)
        this.refuse(p, `no hello within ${this.helloTimeoutMs} ms`);
    }
    for (const p of this.links) {
      if (now - p.heardAt < this.idleMs) continue;
      this.o.log.info(
        { remote: p.remote, gateway: p.gateway, idleMs: this.idleMs },
        'direct link closed: nothing received from its gateway',
      );
      p.socket.destroy();
    }
  }

  private call(id: string, headers: HeaderBlock, data: Uint8Array, writer: FrameWriter): IncomingCall {
    const { nc } = this.o;
    return {
      id,
      headers,
      data,
      accept: () => writer.write([encodeSignal(FrameType.accepted, id)]),
      respond: (body, h) => {
        if (writer.write(encodeReply(id, h.encode(), body))) return;
        // The link closed while the call ran: its inbox on NATS still reaches the gateway.
        try {
          // nats.js's publish reads its headers through encode() alone (HeaderBlock's doc).
          nc.publish(id, body, { headers: h as unknown as MsgHdrs });
        } catch {
          // NATS closed too: the gateway fails the call when this worker's heartbeats stop.
        }
      },
    };
  }

  private tokenMatches(token: string): boolean {
    const a = Buffer.from(token);
    const b = Buffer.from(this.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Closes a broken or unauthorised peer's connection; counted in the refusals' log line. */
  private refuse(peer: Peer, why: string): void {
    this.refusals.refused(peer.gateway === undefined ? why : `${why} (gateway ${peer.gateway})`, peer.remote);
    peer.socket.destroy();
  }
}
