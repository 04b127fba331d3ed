import type { HeaderBlock } from '@thaw/shared';

/**
 * How long a sent answer is kept. An answer is lost only when the NATS node it went through dies
 * with it in its buffers; the gateway asks for it again within milliseconds of its reconnect, and
 * this worker re-sends on its own reconnect. A few seconds cover a slow (busy) host.
 */
export const REPLY_RETAIN_MS = 5000;
/** Bytes of answer bodies kept at most: a few 6 MiB answers, or thousands of small ones. */
export const REPLY_RETAIN_BYTES = 16 * 1024 * 1024;
/** Answers kept at most, whatever their size (bounds the map under a high call rate). */
export const REPLY_RETAIN_COUNT = 50_000;

/** How often answers past the retention are dropped (they may stay this much longer; get() hides them). */
const EXPIRE_EVERY_MS = 100;

/** One answer as it was sent: the references the reply already held, not copies. */
export interface SentReply {
  subject: string;
  data: Uint8Array;
  headers: HeaderBlock;
  /** When it was sent (the store's clock). */
  at: number;
}

export interface ReplyStoreOptions {
  retainMs?: number;
  maxBytes?: number;
  maxCount?: number;
  now?: () => number;
}

/**
 * The answers this worker sent in the last few seconds, by reply subject, oldest first, bounded
 * by age, bytes and count. Expiry happens on insert (the oldest first, stopping at the first one
 * kept): no timer, and a store nobody writes to holds at most what it held.
 */
export class ReplyStore {
  private readonly byReply = new Map<string, SentReply>();
  private bytes = 0;
  private lastExpire = 0;
  private readonly retainMs: number;
  private readonly maxBytes: number;
  private readonly maxCount: number;
  private readonly now: () => number;

  constructor(o: ReplyStoreOptions = {}) {
    this.retainMs = o.retainMs ?? REPLY_RETAIN_MS;
    this.maxBytes = o.maxBytes ?? REPLY_RETAIN_BYTES;
    this.maxCount = o.maxCount ?? REPLY_RETAIN_COUNT;
    this.now = o.now ?? Date.now;
  }

  get size(): number {
    return this.byReply.size;
  }

  get heldBytes(): number {
    return this.bytes;
  }

  add(subject: string, data: Uint8Array, headers: HeaderBlock): void {
    const at = this.now();
    const old = this.byReply.get(subject);
    if (old) this.remove(old);
    // An answer larger than the whole bound is not kept: it would evict every other one.
    if (data.length <= this.maxBytes) {
      this.byReply.set(subject, { subject, data, headers, at });
      this.bytes += data.length;
    }
    this.expire(at);
  }

  get(subject: string): SentReply | undefined {
    const r = this.byReply.get(subject);
    return r && r.at > this.now() - this.retainMs ? r : undefined;
  }

  /** The answers sent at or after `from` (oldest first) still held. */
  since(from: number): SentReply[] {
    const floor = Math.max(from, this.now() - this.retainMs + 1);
    const out: SentReply[] = [];
    for (const r of this.byReply.values()) if (r.at >= floor) out.push(r);
    return out;
  }

  private expire(now: number): void {
    // By age, not per answer: walking the oldest entries per call cost ~1% of the worker's CPU
    // under load. The byte and count bounds hold on every insert.
    const over = this.bytes > this.maxBytes || this.byReply.size > this.maxCount;
    if (!over && now - this.lastExpire < EXPIRE_EVERY_MS) return;
    this.lastExpire = now;
    const old = now - this.retainMs;
    for (const r of this.byReply.values()) {
      const over = this.bytes > this.maxBytes || this.byReply.size > this.maxCount;
      if (r.at > old && !over) break; // in insertion order: the rest are newer
      this.remove(r);
    }
  }

  private remove(r: SentReply): void {
    this.byReply.delete(r.subject);
    this.bytes -= r.data.length;
  }
}
