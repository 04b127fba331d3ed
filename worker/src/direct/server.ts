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
  type Logger,
} from '@thaw/shared';
import type { MsgHdrs, NatsConnection } from 'nats';
import type { IncomingCall, InvokeHandler } from '../invoke/handler.js';
import type { FunctionHost } from '../pool/function-host.js';

/** A peer must name itself with the token this soon after connecting, or is dropped. */
export const HELLO_TIMEOUT_MS = 5000;
/** The first frame (the hello) is small: a peer without the token cannot make this worker buffer more. */
const HELLO_MAX_BYTES = 4096;
/** Links at once: a few per gateway is normal (one each, plus reconnects). */
const MAX_LINKS = 1024;

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
}

/** What gateways need to dial this worker (the heartbeat's `direct`). */
export interface DirectAddress {
  host: string;
  port: number;
  token: string;
}

/**
 * The worker's end of the gateways' direct links (wire/direct.ts): calls without nats-server on
 * the path. Served by the same InvokeHandler as NATS calls: accepted at once, run once, answered
 * on the link, or on NATS when the link is gone by then.
 */
export class DirectServer {
  private readonly server: Server;
  private readonly token = randomBytes(24).toString('base64url');
  private readonly links = new Set<Socket>();
  private address: DirectAddress | undefined;

  constructor(private readonly o: DirectServerOptions) {
    this.server = createServer((socket) => this.serve(socket));
    this.server.maxConnections = MAX_LINKS;
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
    this.address = { host: this.o.host, port: bound.port, token: this.token };
    return this.address;
  }

  /** Undefined until listening. */
  advertised(): DirectAddress | undefined {
    return this.address;
  }

  /** Stops listening and cuts every link (after the worker drained its calls). */
  close(): Promise<void> {
    for (const s of this.links) s.destroy();
    return new Promise((resolve) => {
      if (!this.server.listening) resolve();
      else this.server.close(() => resolve());
    });
  }

  private serve(socket: Socket): void {
    socket.setNoDelay(true);
    this.links.add(socket);
    const reader = new FrameReader({ firstFrameMaxBytes: HELLO_MAX_BYTES });
    let peer: string | undefined;
    const helloTimer = setTimeout(() => socket.destroy(), HELLO_TIMEOUT_MS);
    helloTimer.unref();
    const writer = new FrameWriter(socket);
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        this.refuse(socket, (err as Error).message, peer);
        return;
      }
      for (const f of frames) {
        if (socket.destroyed) return;
        if (peer === undefined) {
          if (f.type !== FrameType.hello || !this.tokenMatches(f.token)) {
            this.refuse(socket, 'the first frame is not a hello with this worker’s token', peer);
            return;
          }
          peer = f.id;
          clearTimeout(helloTimer);
          continue;
        }
        if (f.type !== FrameType.call) {
          this.refuse(socket, `unexpected frame type ${f.type}`, peer);
          return;
        }
        const host = this.o.route(f.fn);
        if (!host) {
          writer.write([encodeSignal(FrameType.elsewhere, f.id)]);
          continue;
        }
        void this.o.handler.serve(this.call(f.id, f.headers, f.data, writer), host);
      }
    });
    socket.on('error', () => undefined); // 'close' follows
    socket.on('close', () => {
      clearTimeout(helloTimer);
      this.links.delete(socket);
    });
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

  private refuse(socket: Socket, why: string, peer: string | undefined): void {
    this.o.log.warn(
      { remote: `${socket.remoteAddress}:${socket.remotePort}`, gateway: peer, why },
      'direct link closed: broken or unauthorised peer',
    );
    socket.destroy();
  }
}
