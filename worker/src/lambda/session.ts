import { randomUUID } from 'node:crypto';
import type { InvokeRequest } from '@thaw/shared';
import type { InvokeResult } from '../pool/forward.js';
import { answerableStatus, fromApiGatewayResult, toApiGatewayEvent } from './events.js';
import { Invocation, type Outcome } from './invocation.js';

/**
 * How calls reach an instance of a `lambda` function: not over HTTP to its port, but as events
 * its runtime takes from the Lambda Runtime API the worker serves it (docs/lambda.md). The
 * factory gives each such instance one; forward() hands it the call.
 */
export interface LambdaSession {
  invoke(req: InvokeRequest, timeoutMs: number): Promise<InvokeResult>;
  /** The instance is going: calls still waiting end, its address is the API's no more. */
  close(): void;
}

/** Where the runtime's pending /next is answered: the Runtime API server (api.ts) gives it. */
export interface NextWaiter {
  send(inv: Invocation, functionArn: string): void;
  /** Drops the held request: a newer /next from the same runtime replaces it. */
  cancel(): void;
}

/** The output the instance printed during a call, for `x-amz-log-type: Tail`. */
export type LogTail = () => { since(): Promise<string> };

export interface RuntimeSessionOptions {
  functionName: string;
  functionArn: string;
  /** Starts a mark in the instance's output; `since()` reads what was printed after it. */
  logMark?: LogTail;
  /** Called once by close(). */
  onClose?: () => void;
}

/** How much of a call's output `x-amz-log-result` carries, as Lambda does. */
export const LOG_RESULT_BYTES = 4096;

/**
 * One instance's side of the Runtime API: its runtime's pending /next (held as long as it
 * takes, frozen or not), the events queued for it (one runs at a time, as in Lambda), the one it
 * is running, and whether it is ready (its first /next) or failed to start (/init/error).
 */
export class RuntimeSession implements LambdaSession {
  private waiter: NextWaiter | undefined;
  private readonly queue: Invocation[] = [];
  private current: Invocation | undefined;
  private readyState: 'starting' | 'ready' | { failed: string } = 'starting';
  private readyListeners: ((err?: Error) => void)[] = [];
  /** Set once a call timed out: its runtime may still be on that event, so no new one goes to it. */
  private broken = false;
  private closed = false;

  constructor(private readonly opts: RuntimeSessionOptions) {}

  /** Resolves at the runtime's first /next; rejects on /init/error or when `timeoutMs` passes. */
  ready(timeoutMs: number, alive: () => boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        clearInterval(poll);
        this.readyListeners = this.readyListeners.filter((l) => l !== done);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(
        () => done(new Error(`its Lambda runtime did not ask for an event within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const poll = setInterval(() => {
        if (!alive()) done(new Error('the container exited before its Lambda runtime asked for an event'));
      }, ALIVE_POLL_MS);
      this.readyListeners.push(done);
      this.notifyReady();
    });
  }

  /** The runtime's GET /next: answered now when an event waits, or held until one does. */
  next(waiter: NextWaiter): void {
    if (this.current) {
      // A runtime that asks again has given up on its event (Lambda would reset it too).
      this.current.end({
        kind: 'lost',
        message: 'the Lambda runtime asked for the next event without answering',
      });
      this.current = undefined;
    }
    if (this.readyState === 'starting') {
      this.readyState = 'ready';
      this.notifyReady();
    }
    // One held /next per instance: a runtime (or code in it) that opens more gets the older ones
    // cut, so it cannot pile up sockets on the worker.
    const older = this.waiter;
    this.waiter = undefined;
    if (older && older !== waiter) older.cancel();
    let inv = this.queue.shift();
    while (inv?.settled) inv = this.queue.shift();
    if (inv) this.deliver(inv, waiter);
    else this.waiter = waiter;
  }

  /** Whether `id` is the event the runtime is on: only its answer is worth reading. */
  running(id: string): boolean {
    return this.current?.id === id;
  }

  /** The held /next's connection closed (the runtime went away). */
  nextGone(waiter: NextWaiter): void {
    if (this.waiter === waiter) this.waiter = undefined;
  }

  /** POST .../{id}/response or .../{id}/error: false for an id that is not the current event. */
  answer(id: string, o: Outcome): boolean {
    if (!this.current || this.current.id !== id) return false;
    this.current.end(o);
    this.current = undefined;
    return true;
  }

  initError(message: string): void {
    if (this.readyState !== 'starting') return;
    this.readyState = { failed: message };
    this.notifyReady();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const gone: Outcome = { kind: 'lost', message: 'the instance was removed' };
    this.current?.end(gone);
    for (const inv of this.queue.splice(0)) inv.end(gone);
    this.initError('the instance was removed before it was ready');
    this.opts.onClose?.();
  }

  async invoke(req: InvokeRequest, timeoutMs: number): Promise<InvokeResult> {
    if (this.broken || this.closed) {
      return {
        ok: false,
        code: 'FUNCTION_TIMEOUT',
        message: 'this instance timed out on an earlier call',
        crashed: true,
      };
    }
    const mark = this.opts.logMark?.();
    const http = !req.lambdaEvent;
    const payload = http
      ? Buffer.from(
          JSON.stringify(
            toApiGatewayEvent(req, {
              requestId: randomUUID(),
              functionName: this.opts.functionName,
              now: Date.now(),
            }),
          ),
        )
      : Buffer.from(req.body.buffer, req.body.byteOffset, req.body.length);
    const inv = new Invocation(payload, timeoutMs);
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      this.deliver(inv, waiter);
    } else {
      this.queue.push(inv);
    }
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      inv.done,
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.broken = true;
      inv.end({ kind: 'lost', message: 'timed out' });
      for (const queued of this.queue.splice(0)) {
        queued.end({ kind: 'lost', message: 'the instance timed out on an earlier call' });
      }
      // Reported as a crash so the pool replaces the instance: its runtime may still be busy
      // with the event, and would answer it late.
      return {
        ok: false,
        code: 'FUNCTION_TIMEOUT',
        message: `the function did not answer within ${timeoutMs} ms`,
        crashed: true,
      };
    }
    return this.result(outcome, http, req, mark);
  }

  private async result(
    o: Outcome,
    http: boolean,
    req: InvokeRequest,
    mark: { since(): Promise<string> } | undefined,
  ): Promise<InvokeResult> {
    if (o.kind === 'lost') return { ok: false, code: o.code ?? 'UPSTREAM_ERROR', message: o.message };
    if (http) {
      if (o.kind === 'response') {
        const answer = fromApiGatewayResult(o.payload);
        if (answerableStatus(answer.status)) return answer;
        return {
          ok: false,
          code: 'UPSTREAM_ERROR',
          message: `the function's result has statusCode ${answer.status}: an HTTP answer needs 200–599`,
        };
      }
      return { ok: false, code: 'FUNCTION_ERROR', message: errorMessage(o.payload) };
    }
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (o.kind === 'error') headers['x-amz-function-error'] = 'Unhandled';
    if (mark && String(req.headers['x-amz-log-type'] ?? '').toLowerCase() === 'tail') {
      const out = Buffer.from(await mark.since().catch(() => ''));
      headers['x-amz-log-result'] = out
        .subarray(Math.max(0, out.length - LOG_RESULT_BYTES))
        .toString('base64');
    }
    return { ok: true, status: 200, headers, body: o.payload };
  }

  private deliver(inv: Invocation, waiter: NextWaiter): void {
    if (inv.settled) return;
    this.current = inv;
    waiter.send(inv, this.opts.functionArn);
  }

  private notifyReady(): void {
    if (this.readyState === 'starting') return;
    const err = this.readyState === 'ready' ? undefined : new Error(this.readyState.failed);
    for (const l of [...this.readyListeners]) l(err);
  }
}

/** How often a start that waits for the first /next checks that the container still runs. */
const ALIVE_POLL_MS = 50;

/** The error's message as the runtime reported it ({errorMessage, errorType}), or its raw body. */
export function errorMessage(payload: Buffer): string {
  const text = payload.toString('utf8');
  try {
    const e = JSON.parse(text) as { errorMessage?: unknown; errorType?: unknown };
    if (typeof e.errorMessage === 'string') {
      return typeof e.errorType === 'string' ? `${e.errorType}: ${e.errorMessage}` : e.errorMessage;
    }
  } catch {
    // Not JSON: the body says it as it is.
  }
  return text.slice(0, 1000);
}
