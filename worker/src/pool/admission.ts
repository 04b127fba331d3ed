import type { FunctionRecord } from '@thaw/shared';
import { ThawError } from '@thaw/shared';
import { SATURATION_WINDOW_MS } from '../timings.js';
import { type InstanceCap, instanceCap, refusal, WAITING_PER_SLOT } from './capacity.js';
import type { InstancePool, MemoryReservations, PooledInstance } from './pool.js';
import type { ConcurrencySampler } from './sampler.js';

export type AdmittedFunction = Pick<
  FunctionRecord,
  'name' | 'concurrency' | 'maxInstances' | 'timeoutMs' | 'memoryMiB'
>;

export interface AdmissionOptions<I extends PooledInstance> {
  fn: AdmittedFunction;
  pool: InstancePool<I>;
  /** Counts every request handed a slot; the caller counts it out when the call ends. */
  sampler: ConcurrencySampler;
  /**
   * Requests that may wait for an instance, per instance slot the function may have
   * (capacity.ts: WAITING_PER_SLOT by default).
   */
  queuePerInstance?: number;
  /** The worker's memory budget: the function's instances are capped at what it holds of them. */
  memory?: Pick<MemoryReservations, 'budgetMiB'>;
  /** The clock for how long requests have waited; tests pass a fake one. */
  now?: () => number;
}

/** What admission tells a call about how it got its instance. */
export interface AdmissionTicket {
  /**
   * Set when the call found no free slot and then got an instance that had served no call
   * before: it waited for an instance started for it (a cold start). Left unset otherwise, so
   * a warm call pays nothing for it.
   */
  cold?: true;
}

interface Waiter<I> {
  ticket: AdmissionTicket | undefined;
  resolve: (inst: I) => void;
  reject: (err: ThawError) => void;
  timer: NodeJS.Timeout;
  since: number;
}

/**
 * Which request gets which instance. A request takes a free slot (an instance with fewer than
 * `concurrency` requests in flight, thawing it), or waits in a queue while a new instance
 * starts, up to the instance cap (capacity.ts: maxInstances, cut by what the worker's memory
 * holds). It is refused (OVERLOADED) only for real overload: the queue is at its bound, or every
 * instance the cap allows is busy and the queue is not draining within the function's timeout.
 * Past the timeout a waiting request gives up (FUNCTION_TIMEOUT).
 */
export class Admission<I extends PooledInstance> {
  private readonly waiters: Waiter<I>[] = [];
  private saturatedAt = Number.NEGATIVE_INFINITY;
  private readonly fn: AdmittedFunction;
  private readonly pool: InstancePool<I>;
  private readonly cap: InstanceCap;
  private readonly now: () => number;

  constructor(private readonly opts: AdmissionOptions<I>) {
    this.fn = opts.fn;
    this.pool = opts.pool;
    this.cap = instanceCap(opts.fn, opts.memory?.budgetMiB);
    this.now = opts.now ?? (() => performance.now());
  }

  /** The most instances this function may have here. */
  get maxInstances(): number {
    return this.cap.instances;
  }

  private get atCap(): boolean {
    return this.pool.size + this.pool.starting >= this.cap.instances;
  }

  /** Requests waiting for an instance. */
  get queued(): number {
    return this.waiters.length;
  }

  /** Whether, within the saturation window, a request had to wait while the pool was at its maximum. */
  get saturated(): boolean {
    return performance.now() - this.saturatedAt < SATURATION_WINDOW_MS;
  }

  /** The instance a request should go to now, if one has room. */
  freeSlot(): I | undefined {
    let best: I | undefined;
    for (const inst of this.pool.live) {
      // Dead instances leave the pool when a request finds them dead, not here: this runs for
      // every request, and a liveness check costs a read of /proc.
      if (inst.busy >= this.fn.concurrency) continue;
      // Pack requests onto busy instances first, so idle ones stay frozen and can age out.
      if (!best || inst.busy > best.busy || (inst.busy === best.busy && inst.lastUsed > best.lastUsed))
        best = inst;
    }
    return best;
  }

  /**
   * An instance acquired for one request; the caller releases it. `ticket` is marked cold
   * when the request had to wait for an instance that then served it first.
   */
  take(ticket?: AdmissionTicket): Promise<I> {
    const free = this.waiters.length === 0 ? this.freeSlot() : undefined;
    if (free) return this.acquire(free);
    const now = this.now();
    const refused = refusal(
      this.fn,
      {
        waiting: this.waiters.length,
        oldestWaitMs: now - (this.waiters[0]?.since ?? now),
        atCap: this.atCap,
        cap: this.cap,
        perSlot: this.opts.queuePerInstance ?? WAITING_PER_SLOT,
      },
      this.opts.memory?.budgetMiB,
    );
    if (refused) return Promise.reject(new ThawError('OVERLOADED', refused));
    if (this.atCap) this.saturatedAt = performance.now();
    return new Promise<I>((resolve, reject) => {
      const waiter: Waiter<I> = {
        ticket,
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(
            new ThawError(
              'FUNCTION_TIMEOUT',
              `no instance of "${this.fn.name}" was free within ${this.fn.timeoutMs} ms`,
            ),
          );
        }, this.fn.timeoutMs),
        since: now,
      };
      this.waiters.push(waiter);
      this.dispatch();
    });
  }

  /**
   * Takes `inst` for one request. A thaw that cannot be written (the instance was destroyed
   * under it) gives the slot and the sampled concurrency back and fails that request alone.
   */
  private acquire(inst: I): Promise<I> {
    this.opts.sampler.enter();
    return inst.acquire().then(
      () => inst,
      (err: unknown) => {
        inst.release();
        this.opts.sampler.leave();
        throw err instanceof ThawError
          ? err
          : new ThawError('FUNCTION_CRASHED', `the instance could not be thawed: ${(err as Error).message}`);
      },
    );
  }

  /**
   * Hands free slots to waiting requests; when none is free, starts more (unless `mayStart` is
   * false: right after a failed start, which would fail the same way again), and fails the
   * waiters when nothing runs and nothing is starting.
   */
  dispatch(mayStart = true): void {
    for (;;) {
      const waiter = this.waiters[0];
      if (!waiter) return;
      const inst = this.freeSlot();
      if (!inst) break;
      this.waiters.shift();
      clearTimeout(waiter.timer);
      // Pre-warmed instances that had served nothing yet were free when it came: it took
      // them without waiting. Here it waited, so a first call means it waited for this start.
      if (waiter.ticket && inst.served === 0) waiter.ticket.cold = true;
      this.acquire(inst).then(waiter.resolve, waiter.reject);
    }
    if (this.waiters.length === 0) return;
    // From zero, this starts the first instance; only when nothing runs and nothing could be
    // started are the waiters failed (with why the last start failed).
    // The pool scales within maxInstances; asking for no more than the cap leaves keeps it within
    // what memory holds too.
    if (mayStart && !this.pool.closed) {
      const room = Math.max(0, this.cap.instances - this.pool.size) * this.fn.concurrency;
      this.pool.scaleFor(Math.min(this.waiters.length, room));
    }
    if (this.pool.size === 0 && this.pool.starting === 0) {
      this.rejectAll(
        this.pool.lastStartError ?? new ThawError('FUNCTION_START_FAILED', 'no instance could be started'),
      );
    }
  }

  /** Fails every waiting request with `err`. */
  rejectAll(err: ThawError): void {
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }
}
