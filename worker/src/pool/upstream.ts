import type { HeaderMap } from '@thaw/shared';
import { type Dispatcher, util } from 'undici';

/** One request to an instance, read whole. */
export interface UpstreamRequest {
  method: string;
  /** Path and query, as sent. */
  path: string;
  headers: HeaderMap;
  body: Buffer | null;
  timeoutMs: number;
  /** An answer larger than this is cut off and reported as too large. */
  maxBytes: number;
}

/** How the request ended: the instance's answer, or why there is none. */
export type UpstreamResult =
  | { kind: 'answer'; status: number; headers: HeaderMap; body: Buffer }
  | { kind: 'timeout' }
  | { kind: 'too-large' }
  | { kind: 'failed'; error: Error };

const EMPTY = Buffer.alloc(0);

/**
 * How often the calls in flight are checked against their deadlines: a call that gets no
 * answer fails FUNCTION_TIMEOUT at most this long past its timeout (the gateway waits
 * REPLY_GRACE_MS, 2 s, past it).
 */
export const UPSTREAM_DEADLINE_SWEEP_MS = 50;

/**
 * Sends the request through undici's low-level `dispatch`. `request()` with an AbortSignal and
 * a streamed body cost, per call, an AbortController and its listeners, a Readable, an async
 * iterator and its end-of-stream watcher (~6% of the worker's CPU under warm c32); the answer
 * is read here into a list of chunks instead, and every call's deadline is checked by one
 * shared sweep rather than a timer each.
 */
export function requestUpstream(d: Dispatcher, r: UpstreamRequest): Promise<UpstreamResult> {
  return new Promise((resolve) => {
    const call = new UpstreamCall(r, resolve);
    deadlines.add(call);
    d.dispatch({ method: r.method as 'GET', path: r.path, headers: r.headers, body: r.body }, call);
  });
}

class UpstreamCall implements Dispatcher.DispatchHandlers {
  readonly deadline: number;
  private readonly maxBytes: number;
  private readonly resolve: (r: UpstreamResult) => void;
  private abort: ((err?: Error) => void) | undefined;
  private settled = false;
  private status = 0;
  private headers: HeaderMap = {};
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(r: UpstreamRequest, resolve: (r: UpstreamResult) => void) {
    this.deadline = performance.now() + r.timeoutMs;
    this.maxBytes = r.maxBytes;
    this.resolve = resolve;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    // Past its deadline while still queued for a connection: it is not sent at all.
    if (this.settled) abort(new Error('the call was already answered'));
  }

  onHeaders(statusCode: number, headers: Buffer[] | string[] | null): boolean {
    // 1xx informational answers (103 Early Hints...) come before the real one.
    if (statusCode < 200) return true;
    this.status = statusCode;
    this.headers = headers ? (util.parseHeaders(headers) as HeaderMap) : {};
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      this.finish({ kind: 'too-large' });
      return false;
    }
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    const { chunks } = this;
    // One chunk (most answers) is passed on as it is: no copy.
    const body =
      chunks.length === 0
        ? EMPTY
        : chunks.length === 1
          ? (chunks[0] as Buffer)
          : Buffer.concat(chunks, this.size);
    this.finish({ kind: 'answer', status: this.status, headers: this.headers, body });
  }

  onError(error: Error): void {
    this.finish({ kind: 'failed', error });
  }

  /** The sweep found it past its deadline. */
  expire(): void {
    this.finish({ kind: 'timeout' });
  }

  /** Settles once; what ends early also stops the request (the socket is closed). */
  private finish(result: UpstreamResult): void {
    if (this.settled) return;
    this.settled = true;
    deadlines.delete(this);
    this.resolve(result);
    if (result.kind === 'timeout' || result.kind === 'too-large') this.abort?.(new Error(result.kind));
  }
}

/**
 * The calls in flight, checked against their deadlines every UPSTREAM_DEADLINE_SWEEP_MS by one
 * timer that runs only while there are any: a call times out at most one sweep past its
 * deadline.
 */
class DeadlineSweep {
  private readonly calls = new Set<UpstreamCall>();
  private timer: NodeJS.Timeout | undefined;

  add(call: UpstreamCall): void {
    this.calls.add(call);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), UPSTREAM_DEADLINE_SWEEP_MS);
      // Calls in flight keep the process alive by their sockets, not by this timer.
      this.timer.unref();
    }
  }

  delete(call: UpstreamCall): void {
    this.calls.delete(call);
  }

  private sweep(): void {
    if (this.calls.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    const now = performance.now();
    for (const call of this.calls) if (call.deadline <= now) call.expire();
  }
}

const deadlines = new DeadlineSweep();
