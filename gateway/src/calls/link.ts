import { connect, type Socket } from 'node:net';
import {
  encodeCall,
  encodeHello,
  encodeSignal,
  type Frame,
  FrameReader,
  FrameType,
  FrameWriter,
  type HeaderBlock,
} from '@thaw/shared';

/** A worker that does not accept the connection by then is given up (its calls go over NATS). */
export const CONNECT_TIMEOUT_MS = 1000;
/** A link that has received nothing for this long is pinged (the worker answers at once). */
export const LINK_PING_MS = 500;
/**
 * A link whose ping has had no frame back for this long is dead, both sockets open or not (a
 * stalled path, a hung peer): it is closed and its calls handled as on any close.
 */
export const LINK_DEAD_MS = 1500;
/**
 * Bytes a link may hold unwritten (the worker reads slower than calls come): past it a call goes
 * over NATS instead, rather than queue in this process's memory behind the others.
 */
export const LINK_BUFFER_MAX = 16 * 1024 * 1024;

/** Why a link was closed by this end, when the caller must know (else a peer, a failure, a ping). */
export type LinkCloseWhy = 'restarted';

/** What a link tells the caller. */
export interface LinkEvents {
  accepted(id: string, link: Link): void;
  reply(id: string, headers: HeaderBlock, data: Buffer): void;
  /** The worker does not serve the call's function (now): nothing ran. */
  elsewhere(id: string): void;
  /** The link is gone; `ids` were sent on it and not answered on it. */
  closed(link: Link, ids: string[], why: LinkCloseWhy | undefined): void;
}

export interface LinkTarget {
  worker: string;
  host: string;
  port: number;
  token: string;
}

export interface LinkOptions {
  target: LinkTarget;
  /** Names this gateway in the worker's logs. */
  gateway: string;
  events: LinkEvents;
  /** Default LINK_BUFFER_MAX. */
  bufferMax?: number;
}

/**
 * A gateway's direct link to one worker (wire/direct.ts): connected at once, calls written from
 * the start (the socket holds them until connected, after the hello). A link is never
 * reconnected: DirectLinks makes a new one.
 */
export class Link {
  readonly worker: string;
  readonly target: LinkTarget;
  /** Calls sent and not settled (answered on it, or settled another way): how loaded the worker is, from here. */
  readonly inflight = new Set<string>();
  private readonly socket: Socket;
  private readonly writer: FrameWriter;
  private readonly reader = new FrameReader();
  private readonly events: LinkEvents;
  private readonly bufferMax: number;
  private closedFlag = false;
  private why: LinkCloseWhy | undefined;
  /** When a frame last came (the link's start until one does), and when a ping went unanswered since. */
  private heardAt = Date.now();
  private pingedAt: number | undefined;
  private heardFlag = false;

  constructor(o: LinkOptions) {
    this.target = o.target;
    this.worker = o.target.worker;
    this.events = o.events;
    this.bufferMax = o.bufferMax ?? LINK_BUFFER_MAX;
    this.socket = connect({ host: o.target.host, port: o.target.port, noDelay: true });
    this.socket.setTimeout(CONNECT_TIMEOUT_MS, () => this.socket.destroy());
    this.socket.once('connect', () => this.socket.setTimeout(0));
    this.writer = new FrameWriter(this.socket);
    this.writer.write([encodeHello(o.gateway, o.target.token)]);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', () => undefined); // 'close' follows
    this.socket.on('close', () => this.onClose());
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Whether any frame ever came on this link (the worker's end works). */
  get heard(): boolean {
    return this.heardFlag;
  }

  /**
   * False when the link is closed or holds more than `bufferMax` bytes unwritten: the caller sends
   * the call another way (nothing was written).
   */
  send(id: string, fn: string, headers: Uint8Array, data: Uint8Array): boolean {
    if (this.closedFlag || this.socket.writableLength > this.bufferMax) return false;
    if (!this.writer.write(encodeCall(id, fn, headers, data))) return false;
    this.inflight.add(id);
    return true;
  }

  /**
   * Called on each sweep: pings a link silent for `pingMs`, closes one whose ping has had nothing
   * back for `deadMs`. Any frame counts as an answer: a busy link is never pinged.
   */
  check(now: number, pingMs: number, deadMs: number): void {
    if (this.closedFlag) return;
    if (this.pingedAt !== undefined) {
      if (now - this.pingedAt >= deadMs) this.close();
    } else if (now - this.heardAt >= pingMs) {
      this.pingedAt = now;
      this.writer.write([encodeSignal(FrameType.ping, '')]);
    }
  }

  close(why?: LinkCloseWhy): void {
    this.why ??= why;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.reader.push(chunk);
    } catch {
      this.socket.destroy(); // a broken stream: nothing more on it is trusted
      return;
    }
    if (frames.length > 0) {
      this.heardAt = Date.now();
      this.pingedAt = undefined;
      this.heardFlag = true;
    }
    for (const f of frames) {
      switch (f.type) {
        case FrameType.accepted:
          this.events.accepted(f.id, this);
          break;
        case FrameType.reply:
          this.inflight.delete(f.id);
          this.events.reply(f.id, f.headers, f.data);
          break;
        case FrameType.elsewhere:
          this.inflight.delete(f.id);
          this.events.elsewhere(f.id);
          break;
        case FrameType.pong:
          break;
        default:
          this.socket.destroy();
          return;
      }
    }
  }

  private onClose(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    const ids = [...this.inflight];
    this.inflight.clear();
    this.events.closed(this, ids, this.why);
  }
}
