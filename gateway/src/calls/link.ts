import { connect, type Socket } from 'node:net';
import {
  encodeCall,
  encodeHello,
  type Frame,
  FrameReader,
  FrameType,
  FrameWriter,
  type HeaderBlock,
} from '@thaw/shared';

/** A worker that does not accept the connection by then is given up (its calls go over NATS). */
export const CONNECT_TIMEOUT_MS = 1000;

/** What a link tells the caller. */
export interface LinkEvents {
  accepted(id: string, worker: string): void;
  reply(id: string, headers: HeaderBlock, data: Buffer): void;
  /** The worker does not serve the call's function (now): nothing ran. */
  elsewhere(id: string): void;
  /** The link is gone; `ids` were sent on it and not answered on it. */
  closed(link: Link, ids: string[]): void;
}

export interface LinkTarget {
  worker: string;
  host: string;
  port: number;
  token: string;
}

/**
 * A gateway's direct link to one worker (wire/direct.ts): connected at once, calls written from
 * the start (the socket holds them until connected, after the hello). A link is never
 * reconnected: DirectLinks makes a new one.
 */
export class Link {
  readonly worker: string;
  /** Calls sent and not answered on this link: how loaded the worker is, from here. */
  readonly inflight = new Set<string>();
  private readonly socket: Socket;
  private readonly writer: FrameWriter;
  private readonly reader = new FrameReader();
  private closedFlag = false;

  constructor(
    readonly target: LinkTarget,
    gateway: string,
    private readonly events: LinkEvents,
  ) {
    this.worker = target.worker;
    this.socket = connect({ host: target.host, port: target.port, noDelay: true });
    this.socket.setTimeout(CONNECT_TIMEOUT_MS, () => this.socket.destroy());
    this.socket.once('connect', () => this.socket.setTimeout(0));
    this.writer = new FrameWriter(this.socket);
    this.writer.write([encodeHello(gateway, target.token)]);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', () => undefined); // 'close' follows
    this.socket.on('close', () => this.onClose());
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** False when the link is closed: the caller sends the call another way. */
  send(id: string, fn: string, headers: Uint8Array, data: Uint8Array): boolean {
    if (this.closedFlag || !this.writer.write(encodeCall(id, fn, headers, data))) return false;
    this.inflight.add(id);
    return true;
  }

  close(): void {
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
    for (const f of frames) {
      switch (f.type) {
        case FrameType.accepted:
          this.events.accepted(f.id, this.worker);
          break;
        case FrameType.reply:
          this.inflight.delete(f.id);
          this.events.reply(f.id, f.headers, f.data);
          break;
        case FrameType.elsewhere:
          this.inflight.delete(f.id);
          this.events.elsewhere(f.id);
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
    this.events.closed(this, ids);
  }
}
