import type { FunctionRecord, Logger, RemovalReason } from '@thaw/shared';
import { ThawError } from '@thaw/shared';
import { type ChargeBudget, MemoryCharge } from '../memory/charge.js';
import type { WorkerMetrics } from '../metrics/metrics.js';
import { RETIRE_AFTER_FAILURES } from '../timings.js';

/** What the pool and admission need of an instance; the real one is `Instance`. */
export interface PooledInstance {
  readonly id: string;
  /** Requests in flight on it. */
  readonly busy: number;
  /** When its last request ended (performance.now()). */
  readonly lastUsed: number;
  /** Requests it has finished (answered or not): 0 until its first call ends. */
  readonly served: number;
  /** Calls in a row that got no answer from it. */
  failuresInARow: number;
  /** Its cold start as the factory measured it, if it did. */
  readonly start?: { totalMs: number } | undefined;
  /** Its account with the memory budget, set by the pool once the instance joins it. */
  charge?: MemoryCharge;
  /** Makes it runnable for one request (thaws it). */
  acquire(): Promise<void>;
  release(): void;
  freezeIfIdle(): Promise<void>;
  destroy(): Promise<void>;
}

/** Builds one instance of the function; the pool owns it from then on. */
export interface InstanceFactory<I extends PooledInstance> {
  create(): Promise<I>;
}

/** The memory each instance reserves before it is built and is charged while it lives (`MemoryBudget`). */
export interface MemoryReservations extends ChargeBudget {
  readonly budgetMiB: number;
  readonly committedMiB: number;
}

/** Why an instance is started: the metrics' `reason` label. */
export type StartReason = 'minimum' | 'request' | 'autoscaler' | 'replace';

/** How a call on an instance ended, as far as the pool's policy cares. */
export type CallOutcome = { ok: true } | { ok: false; code: string; crashed?: boolean };

export type PoolFunction = Pick<
  FunctionRecord,
  'name' | 'memoryMiB' | 'concurrency' | 'minInstances' | 'maxInstances'
>;

export interface PoolOptions<I extends PooledInstance> {
  fn: PoolFunction;
  factory: InstanceFactory<I>;
  memory: MemoryReservations;
  log: Logger;
  metrics?: WorkerMetrics;
  /** Platform-side failures in a row after which an instance is retired and replaced. */
  retireAfterFailures?: number;
  /** An instance left the pool, and why (counted per function by the worker). */
  onRemoved?: (reason: RemovalReason) => void;
  /** An instance joined the pool. */
  onAdded?: () => void;
  /** A start ended, with an instance or not: waiting requests may be served (or failed). */
  onStartSettled?: (ok: boolean) => void;
}

/** Failures that say the instance could not answer at all, not what the function chose to answer. */
const INSTANCE_FAILURES = new Set(['UPSTREAM_ERROR', 'FUNCTION_TIMEOUT']);

/**
 * The instances of one function's revision on this worker: starting them (within the memory
 * budget), retiring and replacing the ones that fail, and removing them. Which request goes to
 * which instance is admission's job; how many there should be, the autoscaler's.
 */
export class InstancePool<I extends PooledInstance> {
  private readonly members = new Set<I>();
  /** Out of the pool, finishing the calls they hold; destroyed when the last one ends. */
  private readonly retiring = new Set<I>();
  /** Starts under way, for close() to wait for. */
  private readonly starts = new Set<Promise<I | undefined>>();
  private startingCount = 0;
  private lastError: ThawError | undefined;
  private closing: Promise<void> | undefined;
  private readonly fn: PoolFunction;
  private readonly removals: Partial<Record<RemovalReason, number>> = {};

  constructor(private readonly opts: PoolOptions<I>) {
    this.fn = opts.fn;
  }

  /** Instances in the pool (not the retiring ones). Not a copy: iterate, do not keep. */
  get live(): ReadonlySet<I> {
    return this.members;
  }

  get size(): number {
    return this.members.size;
  }

  get starting(): number {
    return this.startingCount;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Instances this pool removed, by why. */
  get removed(): Readonly<Partial<Record<RemovalReason, number>>> {
    return this.removals;
  }

  /** Why the last start failed, if one did. */
  get lastStartError(): ThawError | undefined {
    return this.lastError;
  }

  /** Starts one instance; undefined when it failed (see `lastStartError`) or the pool closed. */
  start(reason: StartReason): Promise<I | undefined> {
    const p = this.build(reason).finally(() => {
      this.starts.delete(p);
    });
    this.starts.add(p);
    return p;
  }

  private async build(reason: StartReason): Promise<I | undefined> {
    const { fn, memory, metrics, log } = this.opts;
    this.startingCount++;
    let reserved = false;
    let failed = false;
    try {
      reserved = await memory.reserve(fn.memoryMiB, fn.name);
      if (!reserved) {
        throw new ThawError(
          'OVERLOADED',
          `this worker's memory budget is full (${memory.committedMiB} of ${memory.budgetMiB} MiB committed, ${fn.memoryMiB} MiB more needed)`,
        );
      }
      if (this.closed) return undefined;
      const t0 = performance.now();
      const inst = await this.opts.factory.create();
      metrics?.starts.inc({ function: fn.name, reason, result: 'ok' });
      metrics?.startDuration.observe({ function: fn.name }, (performance.now() - t0) / 1000);
      if (this.closed) {
        await inst.destroy();
        return undefined;
      }
      // Its start is the eviction policy's cost of losing it: as the factory measured it, else
      // the wall time here (which includes waiting for a start slot).
      inst.charge = new MemoryCharge({
        budget: memory,
        fn: fn.name,
        limitMiB: fn.memoryMiB,
        costMs: inst.start?.totalMs ?? performance.now() - t0,
      });
      this.members.add(inst);
      reserved = false; // from here the instance's charge owns the reservation: remove() returns it
      // After the hand-over: a hook that throws must not fail a start whose instance serves
      // (its reservation would be released twice).
      try {
        this.opts.onAdded?.();
      } catch (err) {
        log.warn({ fn: fn.name, err: (err as Error).message }, 'the instance-added hook failed');
      }
      log.info(
        {
          fn: fn.name,
          container: inst.id,
          instances: this.members.size,
          ms: Math.round(performance.now() - t0),
        },
        'instance started',
      );
      return inst;
    } catch (err) {
      this.lastError =
        err instanceof ThawError
          ? err
          : new ThawError('FUNCTION_START_FAILED', (err as Error).message, { cause: err });
      log.warn({ fn: fn.name, err: this.lastError.message }, 'instance failed to start');
      failed = true;
      metrics?.starts.inc({ function: fn.name, reason, result: this.lastError.code });
      return undefined;
    } finally {
      if (reserved) memory.release(fn.memoryMiB);
      // No longer counted as starting when the waiters are told: with nothing else running
      // or starting, they fail with why this start failed.
      this.startingCount--;
      this.opts.onStartSettled?.(!failed);
    }
  }

  /** Reactive scale-up: enough instances starting to take `waiting` requests, within max. */
  scaleFor(waiting: number): void {
    const needed = Math.ceil(waiting / this.fn.concurrency) - this.starting;
    const room = this.fn.maxInstances - this.members.size - this.starting;
    // A start that no waiting request takes (they were served meanwhile) is frozen, not left
    // running idle: only a call's release arms the freeze timer.
    for (let i = 0; i < Math.min(needed, room); i++)
      void this.start('request').then((inst) => inst?.freezeIfIdle());
  }

  /**
   * Judges a call's end: a crashed instance is replaced; one that failed `retireAfterFailures`
   * calls in a row without an answer leaves the pool at once (no new call goes to it) and is
   * destroyed when its calls in flight end.
   */
  report(inst: I, outcome: CallOutcome): void {
    if (outcome.ok) {
      inst.failuresInARow = 0;
      return;
    }
    if (outcome.crashed) {
      if (!this.members.has(inst)) return;
      this.opts.log.warn({ fn: this.fn.name, container: inst.id }, 'instance crashed; replacing it');
      void this.remove(inst, 'crashed');
      this.refill();
      return;
    }
    if (!INSTANCE_FAILURES.has(outcome.code)) return;
    inst.failuresInARow++;
    const limit = this.opts.retireAfterFailures ?? RETIRE_AFTER_FAILURES;
    if (inst.failuresInARow < limit || !this.members.delete(inst)) return;
    this.retiring.add(inst);
    this.opts.log.warn(
      { fn: this.fn.name, container: inst.id, failures: inst.failuresInARow, last: outcome.code },
      'instance failed calls in a row; replacing it',
    );
    this.refill();
  }

  /** A call on `inst` ended: a retiring instance goes with its last call. */
  released(inst: I): void {
    inst.charge?.used();
    if (this.retiring.has(inst) && inst.busy === 0) void this.remove(inst, 'retired');
  }

  /** Starts a replacement when fewer than max(1, minInstances) run or start. */
  private refill(): void {
    if (!this.closed && this.members.size + this.starting < Math.max(1, this.fn.minInstances)) {
      void this.start('replace').then((inst) => inst?.freezeIfIdle());
    }
  }

  /** Takes the instance out of the pool, destroys it and returns its memory to the budget. */
  async remove(inst: I, why: RemovalReason): Promise<void> {
    if (!this.members.delete(inst) && !this.retiring.delete(inst)) return;
    const { log, memory, metrics } = this.opts;
    this.removals[why] = (this.removals[why] ?? 0) + 1;
    metrics?.removals.inc({ function: this.fn.name, reason: why });
    this.opts.onRemoved?.(why);
    log.info({ fn: this.fn.name, container: inst.id, instances: this.members.size, why }, 'instance removed');
    try {
      await inst.destroy();
    } catch (err) {
      log.error({ err, fn: this.fn.name, container: inst.id }, 'removing an instance failed');
    } finally {
      if (inst.charge) inst.charge.release();
      else memory.release(this.fn.memoryMiB);
    }
  }

  /** Removes an idle instance for its memory (the evictor chose it); a busy one is kept. */
  evict(inst: I): Promise<void> {
    if (inst.busy > 0) return Promise.resolve();
    this.opts.metrics?.evictions.inc({ function: this.fn.name });
    return this.remove(inst, 'memory');
  }

  /** Removes idle instances past `idleTtlMs`, least recently used first, while more than `keep` run. */
  ageOut(keep: number, idleTtlMs: number, now: number): void {
    for (const inst of [...this.members].sort((a, b) => a.lastUsed - b.lastUsed)) {
      if (this.members.size <= keep) break;
      if (inst.busy === 0 && now - inst.lastUsed >= idleTtlMs) void this.remove(inst, 'idle-age');
    }
  }

  /** Scale to zero on request: every idle instance above the minimum goes, least recently used first. */
  async scaleToZero(): Promise<void> {
    const removals: Promise<void>[] = [];
    let left = this.members.size;
    for (const inst of [...this.members].sort((a, b) => a.lastUsed - b.lastUsed)) {
      if (left <= this.fn.minInstances) break;
      if (inst.busy > 0) continue;
      left--;
      removals.push(this.remove(inst, 'requested'));
    }
    await Promise.all(removals);
  }

  /** Idempotent: no new start; waits for the starts under way, then removes every instance. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      while (this.starts.size > 0) await Promise.allSettled([...this.starts]);
      await Promise.allSettled([...this.members, ...this.retiring].map((i) => this.remove(i, 'closed')));
    })();
    return this.closing;
  }
}
