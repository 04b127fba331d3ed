import { randomUUID } from 'node:crypto';
import type { FunctionRecord, Logger } from '@thaw/shared';
import { type ConnectionOptions, type Job, type JobsOptions, Queue, Worker } from 'bullmq';
import type { Envelope, Invoke } from '../calls/types.js';
import { jobIdOfCall } from '../schedules/ids.js';
import { removeSchedulers, syncSchedulers } from '../schedules/sync.js';
import { notify } from './callback.js';
import { listCalls } from './list.js';
import { type CallData, type CallStatus, type CallView, callView, type StoredAnswer } from './records.js';
import { tryCall } from './run.js';

/** How long a succeeded call's result is kept. */
export const KEEP_SUCCEEDED_S = 24 * 3600;
/** How long a dead call is kept. */
export const KEEP_DEAD_S = 7 * 24 * 3600;
/** The first retry's wait; each next one doubles (BullMQ's exponential backoff). */
export const RETRY_BACKOFF_MS = 500;
/**
 * How long an accepted call waits for Redis replicas to hold it (WAIT) before its 202, when
 * `replicaAcks` asks for them. Past it the call is accepted anyway, with a warning: it is in the
 * primary, and answering an error for a call that will run would invite a second one.
 */
export const REPLICA_WAIT_MS = 500;
/** Tries, backoff and retention of a call of a function with `attempts` (async calls and ticks alike). */
export function callJobOpts(attempts: number): JobsOptions {
  return {
    attempts,
    backoff: { type: 'exponential', delay: RETRY_BACKOFF_MS },
    removeOnComplete: { age: KEEP_SUCCEEDED_S },
    removeOnFail: { age: KEEP_DEAD_S },
  };
}

/**
 * Results of a function's ticks kept at most, succeeded and dead each: a per-second schedule
 * would otherwise keep 86 400 a day. BullMQ trims the whole finished set of the queue when a
 * tick finishes, so a function with schedules keeps this many of its newest calls, async ones
 * included, within the ages above.
 */
export const KEEP_TICKS = 1000;
/** Tries and retention of a schedule's tick: those of an async call, bounded in number. */
export function tickJobOpts(attempts: number): JobsOptions {
  return {
    ...callJobOpts(attempts),
    removeOnComplete: { age: KEEP_SUCCEEDED_S, count: KEEP_TICKS },
    removeOnFail: { age: KEEP_DEAD_S, count: KEEP_TICKS },
  };
}

/** Times a call may be found stalled (its gateway died) and taken over before it counts as failed. */
const MAX_STALLED = 5;

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
  /** The function as stored now. */
  current: (name: string) => Promise<FunctionRecord | undefined>;
  invoke: Invoke;
  log: Logger;
  /** How long a call's lock lasts without renewal: a gateway that died loses its calls after it. */
  lockMs: number;
  /**
   * Replicas that must hold a call before it is accepted (Redis WAIT): 1 behind Sentinel, where
   * a failover promotes a replica and loses what the old primary had not yet copied; 0 (the
   * default) on a single server.
   */
  replicaAcks?: number;
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
  private syncing: Promise<void> = Promise.resolve();

  constructor(private readonly o: AsyncOptions) {}

  private openQueue(fn: string): Queue {
    return new Queue(fn, { connection: this.o.connection, prefix: `${this.o.prefix}:async` });
  }

  private queue(fn: string): Queue {
    let q = this.queues.get(fn);
    if (!q) {
      q = this.openQueue(fn);
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
    const queue = this.queue(fn.name);
    await queue.add('call', data, { jobId: callId, ...callJobOpts(fn.asyncAttempts) });
    const wanted = this.o.replicaAcks ?? 0;
    if (wanted > 0) {
      // On the connection that wrote the call: WAIT counts the replicas that have its writes.
      const acked = Number(await (await queue.client).runCommand('wait', [wanted, REPLICA_WAIT_MS]));
      if (acked < wanted) {
        this.o.log.warn(
          { callId, acked, wanted, waitMs: REPLICA_WAIT_MS },
          'async call accepted before a Redis replica held it: a failover now could lose it',
        );
      }
    }
    return callId;
  }

  /** A queue for one read: one this gateway does not consume is opened and closed for it. */
  private async reading<T>(fn: string, read: (q: Queue) => Promise<T>): Promise<T> {
    // A deleted function's queue, or any name in a made-up id, is not kept open:
    // ids from anyone must not pile up connections.
    const known = this.queues.get(fn);
    const q = known ?? this.openQueue(fn);
    try {
      return await read(q);
    } finally {
      if (!known) await q.close().catch(() => undefined);
    }
  }

  async get(callId: string): Promise<CallView | undefined> {
    const dot = callId.indexOf('.');
    const fn = callId.slice(0, dot);
    if (dot < 1 || !/^[a-z][a-z0-9-]{0,47}$/.test(fn)) return undefined;
    const jobId = jobIdOfCall(callId);
    return this.reading(fn, async (q) => {
      // The state first: a call that finishes between the two reads is then read finished,
      // with its answer (read the other way round, "completed" could come with no answer).
      const state = await q.getJobState(jobId);
      const job = (await q.getJob(jobId)) as Job<CallData, StoredAnswer> | undefined;
      if (!job || state === 'unknown') return undefined;
      return callView(job, state, fn, callId);
    });
  }

  /** A function's calls, async and scheduled, newest first. */
  async list(fn: string, o: { limit: number; status?: CallStatus }): Promise<CallView[]> {
    return this.reading(fn, (q) => listCalls(q, fn, o));
  }

  /** A list waiting for the sync under way, and the run that will apply it. */
  private pending?: { functions: FunctionRecord[]; run: Promise<void> };

  /**
   * Consumes the queues of `functions` (and stops consuming those of the others). Syncs run one
   * at a time, in call order: the periodic one and those on changes would otherwise interleave.
   * At most one list waits: a newer one replaces it (its callers are answered when the newer
   * one is applied), so syncs slower than the changes do not pile up.
   */
  sync(functions: FunctionRecord[]): Promise<void> {
    if (this.pending) {
      this.pending.functions = functions;
      return this.pending.run;
    }
    const pending = { functions, run: Promise.resolve() };
    pending.run = this.serial(() => {
      this.pending = undefined;
      return this.syncNow(pending.functions);
    });
    this.pending = pending;
    return pending.run;
  }

  /** Runs `step` after the syncs and discards already called. */
  private serial(step: () => Promise<void>): Promise<void> {
    const next = this.syncing.then(step);
    this.syncing = next.catch(() => undefined);
    return next;
  }

  private claimKey = (id: string): string => `${this.o.prefix}:schedules:claim:${id}`;
  private revKey = (fn: string): string => `${this.o.prefix}:schedules:rev:${fn}`;

  private async syncNow(functions: FunctionRecord[]): Promise<void> {
    if (this.closed) return;
    const wanted = new Map(functions.map((f) => [f.name, f]));
    for (const [name, w] of this.workers) {
      if (!wanted.has(name)) {
        this.workers.delete(name);
        await closeWorker(w);
        // Its queue too: each holds a Redis connection, one per deleted function otherwise.
        const q = this.queues.get(name);
        this.queues.delete(name);
        await q?.close().catch(() => undefined);
      }
    }
    for (const fn of functions) {
      if (this.closed) return;
      await syncSchedulers({
        queue: this.queue(fn.name),
        fn,
        jobOpts: tickJobOpts(fn.asyncAttempts),
        claimKey: this.claimKey,
        revKey: this.revKey(fn.name),
        current: () => this.o.current(fn.name),
        log: this.o.log,
      }).catch((err: Error) =>
        this.o.log.warn({ err: err.message, fn: fn.name }, 'syncing schedules failed'),
      );
      if (this.closed) return;
      const current = this.workers.get(fn.name);
      if (current && current.concurrency === fn.asyncConcurrency) continue;
      if (current) current.concurrency = fn.asyncConcurrency;
      else this.workers.set(fn.name, this.consume(fn));
      await this.queue(fn.name)
        .setGlobalConcurrency(fn.asyncConcurrency)
        .catch((err: Error) => this.o.log.warn({ err: err.message }, 'setting async concurrency failed'));
    }
  }

  /**
   * A deleted function's calls that have not run are dropped, and its schedules; results
   * already kept stay.
   */
  discard(fn: string): Promise<void> {
    // After the syncs already called: one under way could otherwise create a scheduler or a
    // consumer for the function after it was discarded.
    return this.serial(() => this.discardNow(fn));
  }

  private async discardNow(fn: string): Promise<void> {
    const w = this.workers.get(fn);
    this.workers.delete(fn);
    if (w) await closeWorker(w);
    const q = this.queue(fn);
    await removeSchedulers(q, this.claimKey, this.revKey(fn)).catch((err: Error) =>
      this.o.log.warn({ err: err.message, fn }, 'removing the schedules of a deleted function failed'),
    );
    await q.drain(true).catch(() => undefined);
    this.queues.delete(fn);
    await q.close().catch(() => undefined);
  }

  private consume(fn: FunctionRecord): Worker {
    const tries = { current: this.o.current, invoke: this.o.invoke, outageBudgetMs: this.o.outageBudgetMs };
    const w = new Worker<CallData, StoredAnswer>(fn.name, (job, token) => tryCall(tries, job, token), {
      connection: this.o.connection,
      prefix: `${this.o.prefix}:async`,
      concurrency: fn.asyncConcurrency,
      lockDuration: this.o.lockMs,
      stalledInterval: this.o.lockMs,
      maxStalledCount: MAX_STALLED,
    });
    const callback = { allowPrivate: this.o.allowPrivateCallbacks, log: this.o.log };
    w.on('error', (err) => this.o.log.warn({ err: err.message, fn: fn.name }, 'async worker error'));
    w.on('completed', (job) => void notify(job, job.returnvalue, 'succeeded', callback));
    w.on('failed', (job) => {
      if (job && job.attemptsMade >= (job.opts.attempts ?? 1))
        void notify(job, job.data.last, 'dead', callback);
    });
    return w;
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
    // A sync under way would otherwise go on opening queues and consumers after they are closed:
    // left running, a consumer's connection fails later with nobody to handle it.
    await this.syncing;
    await Promise.all([...this.workers.values()].map(closeWorker));
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
  }
}

/**
 * Closes a consumer once it has connected: one closed while still connecting (a function
 * deleted just after it was listed) leaves a "Connection is closed" rejection nobody handles.
 */
async function closeWorker(w: Worker): Promise<void> {
  await w.waitUntilReady().catch(() => undefined);
  await w.close().catch(() => undefined);
}
