import { randomUUID } from 'node:crypto';
import {
  checkTarget,
  ErrorCatalogue,
  type FunctionRecord,
  type HeaderMap,
  type Logger,
  ThawError,
} from '@thaw/shared';
import { type ConnectionOptions, DelayedError, type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { type CallbackRecord, deliver } from './async/callback.js';
import type { Answer, Envelope } from './invoke.js';
import type { Registry } from './registry.js';

/** The part of a function's answer kept with a call (bodies beyond this are cut). */
export const MAX_STORED_BODY = 1024 * 1024;
const KEEP_SUCCEEDED_S = 24 * 3600;
const KEEP_DEAD_S = 7 * 24 * 3600;
const BACKOFF_MS = 500;
const OUTAGE_MIN_WAIT_MS = 500;
const OUTAGE_MAX_WAIT_MS = 5000;

/**
 * The wait before the next try of a call whose tries have found no worker for `elapsedMs`: as
 * long as the outage has lasted so far (so the waits double), from 0.5 s up to 5 s, so a call
 * runs at most about 5 s after a worker is back. A quarter either way at random, so the calls
 * queued during an outage do not all come back in the same instant.
 */
export function outageWait(elapsedMs: number, random = Math.random): number {
  const base = Math.min(Math.max(elapsedMs, OUTAGE_MIN_WAIT_MS), OUTAGE_MAX_WAIT_MS);
  return Math.round(base * (0.75 + random() / 2));
}

interface CallData {
  fn: string;
  envelope: { method: string; path: string; query: string; headers: HeaderMap; body: string };
  callbackUrl?: string;
  last?: StoredAnswer;
  /** When tries began to find no worker (cleared once one reaches a worker). */
  outageSince?: number;
  /** Set while the call waits for a worker, an attempt not used: why. */
  waiting?: string;
  callback?: CallbackRecord;
}

interface StoredAnswer {
  status: number;
  headers: HeaderMap;
  /** base64 */
  body: string;
  truncated: boolean;
}

export type CallStatus = 'queued' | 'running' | 'retrying' | 'succeeded' | 'dead';

export interface CallView {
  callId: string;
  function: string;
  status: CallStatus;
  attempts: number;
  maxAttempts: number;
  createdAt: string;
  /** When the latest try started. */
  startedAt?: string;
  finishedAt?: string;
  /** The function's answer (succeeded), or its last failed answer. */
  response?: StoredAnswer & { bodyEncoding: 'base64' };
  error?: string;
  /** What became of the callback, when the call has a callback URL. */
  callback?: CallbackRecord | { status: 'pending' };
}

/** The setting that lets callbacks go to private addresses, named when one is refused. */
const CALLBACK_SETTING = 'ASYNC_CALLBACK_PRIVATE=allow';

/** Why a callback URL may not be called (see checkTarget), or undefined. */
export async function callbackRefusal(url: string, allowPrivate: boolean): Promise<string | undefined> {
  const target = await checkTarget(url, { allowPrivate, allowedBy: CALLBACK_SETTING });
  return target.ok ? undefined : target.reason;
}

export interface AsyncOptions {
  /** Callbacks to private, loopback, link-local and this host's addresses are refused unless set. */
  allowPrivateCallbacks: boolean;
  /**
   * How long a call's tries may find no worker (NO_WORKER: nothing ran) without using up its
   * attempts; past it, such tries count as failed tries.
   */
  outageBudgetMs: number;
  connection: ConnectionOptions;
  prefix: string;
  registry: Registry;
  invoke: (fn: FunctionRecord, env: Envelope) => Promise<Answer>;
  log: Logger;
  /** How long a call's lock lasts without renewal: a gateway that died loses its calls after it. */
  lockMs: number;
}

function stored(a: Answer): StoredAnswer {
  return {
    status: a.status,
    headers: a.headers,
    body: a.body.subarray(0, MAX_STORED_BODY).toString('base64'),
    truncated: a.body.length > MAX_STORED_BODY,
  };
}

/** A platform failure as the answer a client would have seen. */
function asAnswer(err: ThawError): Answer {
  return {
    status: err.status,
    headers: { 'content-type': 'application/json', 'x-thaw-error': err.code },
    body: Buffer.from(JSON.stringify(err.toBody())),
  };
}

/**
 * Async invocations on BullMQ: one queue per function (so each has its own concurrency limit,
 * set on the queue for all gateways together), consumed by every gateway. A call is retried
 * with exponential backoff when the answer is 5xx or 429 (WORKER_LOST and OVERLOADED
 * included), up to the function's `asyncAttempts`; then it is dead. A try that found no worker
 * (NO_WORKER) ran nothing: the call waits and tries again, for up to `outageBudgetMs`, without
 * using an attempt, so a worker outage of that length fails no call. Calls live in Redis, so a
 * gateway, worker or Redis restart loses none (Redis with its append-only file on); a call a
 * dead gateway held is taken over once its lock expires.
 */
export class AsyncCalls {
  private readonly queues = new Map<string, Queue>();
  private readonly workers = new Map<string, Worker>();
  private closed = false;

  private readonly outageBudgetMs: number;

  constructor(private readonly o: AsyncOptions) {
    this.outageBudgetMs = o.outageBudgetMs;
  }

  private queue(fn: string): Queue {
    let q = this.queues.get(fn);
    if (!q) {
      q = new Queue(fn, { connection: this.o.connection, prefix: `${this.o.prefix}:async` });
      q.on('error', (err) => this.o.log.warn({ err: err.message, fn }, 'async queue error'));
      this.queues.set(fn, q);
    }
    return q;
  }

  async enqueue(fn: FunctionRecord, env: Envelope, callbackUrl?: string): Promise<string> {
    const callId = `${fn.name}.${randomUUID()}`;
    const data: CallData = {
      fn: fn.name,
      envelope: { ...env, body: env.body.toString('base64') },
      ...(callbackUrl ? { callbackUrl } : {}),
    };
    await this.queue(fn.name).add('call', data, {
      jobId: callId,
      attempts: fn.asyncAttempts,
      backoff: { type: 'exponential', delay: BACKOFF_MS },
      removeOnComplete: { age: KEEP_SUCCEEDED_S },
      removeOnFail: { age: KEEP_DEAD_S },
    });
    return callId;
  }

  async get(callId: string): Promise<CallView | undefined> {
    const dot = callId.indexOf('.');
    const fn = callId.slice(0, dot);
    if (dot < 1 || !/^[a-z][a-z0-9-]{0,47}$/.test(fn)) return undefined;
    // A queue this gateway does not consume (a deleted function, or any name in a made-up id)
    // is opened for this read only: ids from anyone must not pile up connections.
    const known = this.queues.get(fn);
    const q = known ?? new Queue(fn, { connection: this.o.connection, prefix: `${this.o.prefix}:async` });
    try {
      return await this.view(q, fn, callId);
    } finally {
      if (!known) await q.close().catch(() => undefined);
    }
  }

  private async view(q: Queue, fn: string, callId: string): Promise<CallView | undefined> {
    // The state first: a call that finishes between the two reads is then read finished,
    // with its answer (read the other way round, "completed" could come with no answer).
    const state = await q.getJobState(callId);
    const job = (await q.getJob(callId)) as Job<CallData, StoredAnswer> | undefined;
    if (!job || state === 'unknown') return undefined;
    const status: CallStatus =
      state === 'completed'
        ? 'succeeded'
        : state === 'failed'
          ? 'dead'
          : state === 'active'
            ? 'running'
            : job.attemptsMade > 0 || job.data.waiting
              ? 'retrying'
              : 'queued';
    const answer = status === 'succeeded' ? job.returnvalue : job.data.last;
    return {
      callId,
      function: fn,
      status,
      attempts: job.attemptsMade,
      maxAttempts: job.opts.attempts ?? 1,
      createdAt: new Date(job.timestamp).toISOString(),
      ...(job.processedOn ? { startedAt: new Date(job.processedOn).toISOString() } : {}),
      ...(job.finishedOn ? { finishedAt: new Date(job.finishedOn).toISOString() } : {}),
      ...(answer ? { response: { ...answer, bodyEncoding: 'base64' as const } } : {}),
      ...(status === 'dead' || status === 'retrying'
        ? { error: (status === 'retrying' && job.data.waiting) || job.failedReason }
        : {}),
      ...(job.data.callbackUrl ? { callback: job.data.callback ?? { status: 'pending' as const } } : {}),
    };
  }

  /** Consumes the queues of `functions` (and stops consuming those of the others). */
  async sync(functions: FunctionRecord[]): Promise<void> {
    if (this.closed) return;
    const wanted = new Map(functions.map((f) => [f.name, f]));
    for (const [name, w] of this.workers) {
      if (!wanted.has(name)) {
        this.workers.delete(name);
        await w.close().catch(() => undefined);
      }
    }
    for (const fn of functions) {
      const current = this.workers.get(fn.name);
      if (current && current.concurrency === fn.asyncConcurrency) continue;
      if (current) current.concurrency = fn.asyncConcurrency;
      else this.workers.set(fn.name, this.consume(fn));
      await this.queue(fn.name)
        .setGlobalConcurrency(fn.asyncConcurrency)
        .catch((err: Error) => this.o.log.warn({ err: err.message }, 'setting async concurrency failed'));
    }
  }

  /** A deleted function's calls that have not run are dropped; results already kept stay. */
  async discard(fn: string): Promise<void> {
    const w = this.workers.get(fn);
    this.workers.delete(fn);
    await w?.close().catch(() => undefined);
    const q = this.queue(fn);
    await q.drain(true).catch(() => undefined);
    this.queues.delete(fn);
    await q.close().catch(() => undefined);
  }

  private consume(fn: FunctionRecord): Worker {
    const w = new Worker<CallData, StoredAnswer>(fn.name, (job, token) => this.run(job, token), {
      connection: this.o.connection,
      prefix: `${this.o.prefix}:async`,
      concurrency: fn.asyncConcurrency,
      lockDuration: this.o.lockMs,
      stalledInterval: this.o.lockMs,
      maxStalledCount: 5,
    });
    w.on('error', (err) => this.o.log.warn({ err: err.message, fn: fn.name }, 'async worker error'));
    w.on('completed', (job) => void this.callback(job, job.returnvalue, 'succeeded'));
    w.on('failed', (job) => {
      if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) void this.callback(job, job.data.last, 'dead');
    });
    return w;
  }

  private async run(job: Job<CallData, StoredAnswer>, token?: string): Promise<StoredAnswer> {
    const fn = await this.o.registry.getFunction(job.data.fn, { fresh: true });
    if (!fn) throw new UnrecoverableError(`function "${job.data.fn}" was deleted`);
    const e = job.data.envelope;
    let answer: Answer;
    try {
      answer = await this.o.invoke(fn, { ...e, body: Buffer.from(e.body, 'base64') });
    } catch (err) {
      if (!(err instanceof ThawError)) throw err;
      answer = asAnswer(err);
    }
    const kept = stored(answer);
    const code = answer.headers['x-thaw-error'];
    const { waiting: _, outageSince, ...data } = job.data;
    if (code === 'NO_WORKER' && token) {
      const now = Date.now();
      const since = outageSince ?? now;
      if (now - since < this.outageBudgetMs) {
        // Nothing ran: this try is no attempt. The call waits in BullMQ's delayed set, so
        // any gateway may take it on when it is due, this one dead or not.
        const waiting = `no worker since ${new Date(since).toISOString()} (try answered 503 NO_WORKER); waiting for one, no attempt used`;
        await job.updateData({ ...data, last: kept, outageSince: since, waiting });
        await job.moveToDelayed(now + outageWait(now - since), token);
        throw new DelayedError();
      }
    }
    if (answer.status >= 500 || answer.status === 429) {
      await job.updateData({ ...data, last: kept, ...(code === 'NO_WORKER' ? { outageSince } : {}) });
      const past = code === 'NO_WORKER' && outageSince !== undefined ? ', past the outage budget' : '';
      throw new Error(
        `try ${job.attemptsMade + 1} answered ${answer.status}${typeof code === 'string' && code in ErrorCatalogue ? ` ${code}` : ''}${past}`,
      );
    }
    if (job.data.waiting || outageSince !== undefined) await job.updateData(data);
    return kept;
  }

  /**
   * Posts the result to the call's X-Callback-Url (the function's body, status in a header)
   * and records on the call what became of it: sent, failed, or refused by the address guard.
   */
  private async callback(
    job: Job<CallData>,
    answer: StoredAnswer | undefined,
    status: CallStatus,
  ): Promise<void> {
    const url = job.data.callbackUrl;
    if (!url) return;
    const headers: Record<string, string> = {
      'x-thaw-call-id': job.id ?? '',
      'x-thaw-call-status': status,
      'x-thaw-function-status': String(answer?.status ?? 0),
    };
    const ct = answer?.headers['content-type'];
    if (typeof ct === 'string') headers['content-type'] = ct;
    const body = answer ? Buffer.from(answer.body, 'base64') : Buffer.alloc(0);
    const record = await deliver(
      { url, headers, body },
      { allowPrivate: this.o.allowPrivateCallbacks, allowedBy: CALLBACK_SETTING },
    ).catch((err: Error) => ({
      status: 'failed' as const,
      reason: err.message,
      tries: 0,
      at: new Date().toISOString(),
    }));
    if (record.status !== 'sent') this.o.log.warn({ call: job.id, ...record }, `callback ${record.status}`);
    await job
      .updateData({ ...job.data, callback: record })
      .catch((err: Error) =>
        this.o.log.warn({ call: job.id, err: err.message }, 'recording the callback failed'),
      );
  }

  /** Jobs by state, summed over the queues this gateway knows: for the metrics. */
  async counts(): Promise<Record<string, number>> {
    const sum: Record<string, number> = {};
    for (const q of this.queues.values()) {
      const c = await q.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed').catch(() => ({}));
      for (const [k, v] of Object.entries(c)) sum[k] = (sum[k] ?? 0) + (v as number);
    }
    return sum;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.workers.values()].map((w) => w.close()));
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
  }
}
