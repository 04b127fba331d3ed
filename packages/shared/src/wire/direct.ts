import type { Socket } from 'node:net';
import { HeaderBlock } from './header-block.js';

/**
 * The direct link: a gateway's TCP connection to a worker that carries the same calls and
 * replies as NATS does (a header block in NATS's wire form and a payload), without nats-server
 * between them. NATS stays the control plane and the fallback: a call whose function the link's
 * worker does not hold, or that was sent on a link that closed before the worker took it, goes
 * over NATS. A call's id is the NATS inbox its answer would go to, on both transports: a worker
 * that cannot answer on the link answers there, the resend filter and the reply store key on it,
 * and a gateway's replay request finds it (docs/direct-link.md).
 *
 * Every frame: u32 length of what follows | u8 type | u16 id length | id (UTF-8) | the rest:
 *   hello      the worker's token (UTF-8); the id names the gateway (logs)
 *   call       u16 function length | function | u32 header length | header block | payload
 *   accepted   nothing: the worker took the call (it ties the call to its heartbeats)
 *   reply      u32 header length | header block | payload
 *   elsewhere  nothing: the worker does not serve that function (now): nothing ran, send it on NATS
 *   ping, pong nothing (empty id): a gateway asks whether the link still carries anything, the
 *              worker answers; a link silent past its ping is dead even with both sockets open
 * Integers are big-endian.
 */
export const FrameType = {
  hello: 1,
  call: 2,
  accepted: 3,
  reply: 4,
  elsewhere: 5,
  ping: 6,
  pong: 7,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Frames larger than this are refused (the link is closed): far above any call thaw carries. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** Ids and function names are short; longer ones mean a broken or hostile peer. */
const MAX_NAME_BYTES = 1024;

export type Frame =
  | { type: typeof FrameType.hello; id: string; token: string }
  | { type: typeof FrameType.call; id: string; fn: string; headers: HeaderBlock; data: Buffer }
  | { type: typeof FrameType.reply; id: string; headers: HeaderBlock; data: Buffer }
  | { type: SignalType; id: string };

/** The frames that carry nothing but an id. */
export type SignalType =
  | typeof FrameType.accepted
  | typeof FrameType.elsewhere
  | typeof FrameType.ping
  | typeof FrameType.pong;

/**
 * Whether `id` can be a call's id: the NATS inbox its answer would be published to, so a
 * literal subject (printable ASCII without spaces, no wildcard). Anything else in a subject
 * would be written into the NATS protocol line as it is.
 */
export function isCallId(id: string): boolean {
  return (
    /^[!-~]+$/.test(id) &&
    !/(^|\.)[*>](\.|$)/.test(id) &&
    !id.startsWith('.') &&
    !id.endsWith('.') &&
    !id.includes('..')
  );
}

/** A peer broke the framing: the link is closed, nothing on it is trusted further. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
}

/**
 * The start of a frame: length, type and id, plus room for `extra` bytes the caller fills at
 * `start` (the returned offset). `rest` counts the bytes that follow the head (header block,
 * payload), written separately so a body is never copied.
 */
function head(type: FrameType, id: string, extra: number, rest: number): { buf: Buffer; at: number } {
  const idLen = Buffer.byteLength(id);
  const buf = Buffer.allocUnsafe(4 + 1 + 2 + idLen + extra);
  buf.writeUInt32BE(1 + 2 + idLen + extra + rest, 0);
  buf.writeUInt8(type, 4);
  buf.writeUInt16BE(idLen, 5);
  buf.write(id, 7);
  return { buf, at: 7 + idLen };
}

export function encodeHello(gateway: string, token: string): Buffer {
  const tok = Buffer.from(token);
  const { buf } = head(FrameType.hello, gateway, 0, tok.length);
  return Buffer.concat([buf, tok]);
}

/** A call as the buffers to write in order (the body is not copied). */
export function encodeCall(id: string, fn: string, headers: Uint8Array, data: Uint8Array): Uint8Array[] {
  const fnLen = Buffer.byteLength(fn);
  const { buf, at } = head(FrameType.call, id, 2 + fnLen + 4, headers.length + data.length);
  buf.writeUInt16BE(fnLen, at);
  buf.write(fn, at + 2);
  buf.writeUInt32BE(headers.length, at + 2 + fnLen);
  return [buf, headers, data];
}

/** A reply as the buffers to write in order (the body is not copied). */
export function encodeReply(id: string, headers: Uint8Array, data: Uint8Array): Uint8Array[] {
  const { buf, at } = head(FrameType.reply, id, 4, headers.length + data.length);
  buf.writeUInt32BE(headers.length, at);
  return [buf, headers, data];
}

export function encodeSignal(type: SignalType, id: string): Buffer {
  return head(type, id, 0, 0).buf;
}

export interface FrameReaderOptions {
  /** Larger frames throw. Default MAX_FRAME_BYTES. */
  maxFrameBytes?: number;
  /**
   * The first frame's own limit: a server's peer must say who it is in a small one (the hello)
   * before it may send large ones. Not a limit the server raises once it read the hello: the
   * frames after it may be in the same chunk (a gateway writes its hello and first calls at once),
   * and are read in the same push.
   */
  firstFrameMaxBytes?: number;
}

/**
 * Reads frames from a byte stream in whatever chunks it arrives. A frame within one chunk is
 * read as views of it (no copy); one split across chunks is joined once.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private held = 0;
  private readonly maxFrameBytes: number;
  private limit: number;

  constructor(o: FrameReaderOptions = {}) {
    this.maxFrameBytes = o.maxFrameBytes ?? MAX_FRAME_BYTES;
    this.limit = o.firstFrameMaxBytes ?? this.maxFrameBytes;
  }

  /** The frames completed by `chunk`, in order. Throws FrameError on a broken stream. */
  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.held += chunk.length;
    const out: Frame[] = [];
    for (;;) {
      if (this.held < 4) return out;
      let first = this.chunks[0] as Buffer;
      if (first.length < 4) first = this.join();
      const len = first.readUInt32BE(0);
      if (len > this.limit) throw new FrameError(`frame of ${len} bytes is over the limit`);
      if (this.held < 4 + len) return out;
      if (first.length < 4 + len) first = this.join();
      out.push(parse(first.subarray(4, 4 + len)));
      this.limit = this.maxFrameBytes;
      const left = first.subarray(4 + len);
      this.held -= 4 + len;
      if (left.length > 0) this.chunks[0] = left;
      else this.chunks.shift();
    }
  }

  private join(): Buffer {
    const all = Buffer.concat(this.chunks, this.held);
    this.chunks = [all];
    return all;
  }
}

function need(b: Buffer, at: number, n: number): void {
  if (at + n > b.length) throw new FrameError('frame shorter than its fields');
}

function name(b: Buffer, at: number): { value: string; next: number } {
  need(b, at, 2);
  const n = b.readUInt16BE(at);
  if (n > MAX_NAME_BYTES) throw new FrameError(`name of ${n} bytes is over the limit`);
  need(b, at + 2, n);
  return { value: b.toString('utf8', at + 2, at + 2 + n), next: at + 2 + n };
}

function headersAndData(b: Buffer, at: number): { headers: HeaderBlock; data: Buffer } {
  need(b, at, 4);
  const n = b.readUInt32BE(at);
  need(b, at + 4, n);
  const headers = HeaderBlock.parse(b.subarray(at + 4, at + 4 + n));
  if (!headers) throw new FrameError('malformed header block');
  return { headers, data: b.subarray(at + 4 + n) };
}

function parse(b: Buffer): Frame {
  need(b, 0, 1);
  const type = b.readUInt8(0);
  const id = name(b, 1);
  switch (type) {
    case FrameType.hello:
      return { type, id: id.value, token: b.toString('utf8', id.next) };
    case FrameType.call: {
      const fn = name(b, id.next);
      return { type, id: id.value, fn: fn.value, ...headersAndData(b, fn.next) };
    }
    case FrameType.reply:
      return { type, id: id.value, ...headersAndData(b, id.next) };
    case FrameType.accepted:
    case FrameType.elsewhere:
    case FrameType.ping:
    case FrameType.pong:
      return { type, id: id.value };
    default:
      throw new FrameError(`unknown frame type ${type}`);
  }
}

/**
 * Writes frames on a link, corked until the end of the current tick: the acceptances of the calls
 * read from one chunk, or the replies (calls) one batch sends, go out in one write system call.
 */
export class FrameWriter {
  private corked = false;

  constructor(private readonly socket: Socket) {}

  /** False when the link is closed (nothing written). */
  write(parts: readonly Uint8Array[]): boolean {
    const s = this.socket;
    if (s.destroyed || !s.writable) return false;
    if (!this.corked) {
      this.corked = true;
      s.cork();
      process.nextTick(() => {
        this.corked = false;
        s.uncork();
      });
    }
    for (const p of parts) if (p.length > 0) s.write(p);
    return true;
  }
}
