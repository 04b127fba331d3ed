import type { Container, Runtime } from '@thaw/runtime';
import { ContainerStartError, type RunnableImage } from '@thaw/runtime';
import type { FunctionRecord, Logger } from '@thaw/shared';
import { ThawError } from '@thaw/shared';
import { forward, type InvokeRequest, type InvokeResult } from '../invoke/proxy.js';
import type { MemoryBudget } from '../memory/budget.js';
import type { FunctionGauges, WorkerMetrics } from '../metrics/metrics.js';
import { Autoscaler, DEFAULT_AUTOSCALER } from './autoscaler.js';
import { Instance } from './instance.js';
import type { Semaphore } from './semaphore.js';

export interface HostOptions {
  freezeAfterMs: number;
  startTimeoutMs: number;
  /** How often the autoscaler samples concurrency and decides. */
  tickMs?: number;
  /** Requests that may wait for an instance, per instance the function may have. */
  queuePerInstance?: number;
  /** The worker's memory budget, shared by all its functions. */
  memory: MemoryBudget;
  /**
   * Container starts in progress on this worker, shared by all its functions: on a small host,
   * dozens of starts at once all finish late; a few at a time, the first ones serve sooner.
   */
  starts?: Semaphore;
  metrics?: WorkerMetrics;
  /**
   * Platform-side failures in a row (UPSTREAM_ERROR, FUNCTION_TIMEOUT) after which an instance
   * is retired and replaced; default 3.
   */
  retireAfterFailures?: number;
  /** Called when an instance joins the pool: the log collector watches its files from then on. */
  instanceAdded?: () => void;
}

/** Failures that say the instance could not answer at all, not what the function chose to answer. */
const INSTANCE_FAILURES = new Set(['UPSTREAM_ERROR', 'FUNCTION_TIMEOUT']);

/** Why an instance is started: the metrics' `reason` label. */
type StartReason = 'minimum' | 'request' | 'autoscaler' | 'replace';

/** What a heartbeat says of one function on this worker. */
export interface HostSnapshot {
  name: string;
  starting: number;
  instances: { id: string; state: 'running' | 'frozen'; busy: number; revision: number }[];
}

interface Waiter {
  resolve: (inst: Instance) => void;
  reject: (err: ThawError) => void;
  timer: NodeJS.Timeout;
}

/**
 * A function's pool of instances on this worker. A request takes a free slot (an instance with
 * fewer than `concurrency` requests in flight, thawing it), or waits in a bounded queue while
 * a new instance starts (up to `maxInstances`); beyond the queue it is refused (OVERLOADED).
 * The autoscaler, fed the average concurrency every tick, starts instances ahead of demand;
 * instances idle longer than `idleTtlMs` go while there are more than the autoscaler and
 * `minInstances` ask for. A crashed instance is replaced, and so is one that failed
 * `retireAfterFailures` calls in a row without an answer (a process that still accepts
 * connections but cannot serve them, e.g. with every pid of its cgroup held by live processes).
 */
export class FunctionHost {
  private readonly instances = new Set<Instance>();
  /** Out of the pool, finishing the calls they hold; destroyed when the last one ends. */
  private readonly retiring = new Set<Instance>();
  private starting = 0;
  private readonly waiters: Waiter[] = [];
  private readonly autoscaler: Autoscaler;
  private readonly ticker: NodeJS.Timeout;
  private closed = false;
  private lastStartError: ThawError | undefined;
  private saturatedAt = Number.NEGATIVE_INFINITY;
  private lastDecision = { desired: 0, panic: false };
  // Time-weighted in-flight count since the last tick: the autoscaler's input.
  private inflight = 0;
  private area = 0;
  private lastChange = performance.now();
  private lastTick = performance.now();

  constructor(
    readonly fn: FunctionRecord,
    private readonly image: RunnableImage,
    private readonly runtime: Runtime,
    private readonly opts: HostOptions,
    private readonly log: Logger,
  ) {
    this.autoscaler = new Autoscaler({
      targetPerInstance: fn.concurrency * DEFAULT_AUTOSCALER.targetUtilisation,
      stableWindowMs: Math.min(DEFAULT_AUTOSCALER.stableWindowMs, fn.idleTtlMs),
      panicWindowMs: Math.min(DEFAULT_AUTOSCALER.panicWindowMs, fn.idleTtlMs),
      panicThreshold: DEFAULT_AUTOSCALER.panicThreshold,
      minInstances: fn.minInstances,
      maxInstances: fn.maxInstances,
    });
    this.ticker = setInterval(() => this.tick(), opts.tickMs ?? 1000);
    this.ticker.unref();
  }

  get size(): number {
    return this.instances.size;
  }

  /** Whether, within the last second, a request had to wait while the pool was at its maximum. */
  get saturated(): boolean {
    return performance.now() - this.saturatedAt < 1000;
  }

  instanceList(): Instance[] {
    return [...this.instances];
  }

  containers(): Container[] {
    return [...this.instances].map((i) => i.container);
  }

  /** Starts max(1, minInstances) instances and leaves them frozen: the first request is a thaw. */
  async warm(): Promise<void> {
    const n = Math.max(1, this.fn.minInstances);
    const started = await Promise.all(Array.from({ length: n }, () => this.startInstance('minimum')));
    await Promise.all(started.map((i) => i?.freezeIfIdle()));
    if (started.every((i) => !i)) throw this.lastStartError ?? new ThawError('FUNCTION_START_FAILED');
  }

  /** Starts one instance; on failure records the error and fails the waiters if nothing else can serve them. */
  private async startInstance(reason: StartReason): Promise<Instance | undefined> {
    this.starting++;
    let reserved = false;
    let failed = false;
    try {
      reserved = await this.opts.memory.reserve(this.fn.memoryMiB, this.fn.name);
      if (!reserved) {
        throw new ThawError(
          'OVERLOADED',
          `this worker's memory budget is full (${this.opts.memory.committedMiB} of ${this.opts.memory.budgetMiB} MiB committed, ${this.fn.memoryMiB} MiB more needed)`,
        );
      }
      if (this.closed) return undefined;
      const t0 = performance.now();
      const create = () =>
        this.runtime.create({
          image: this.image,
          port: this.fn.port,
          env: this.fn.env,
          memoryMiB: this.fn.memoryMiB,
          diskMiB: this.fn.diskMiB,
          readyTimeoutMs: this.opts.startTimeoutMs,
          label: this.fn.name,
        });
      const container = await (this.opts.starts ? this.opts.starts.use(create) : create());
      const inst = new Instance(container, this.opts.freezeAfterMs, this.log, this.opts.metrics);
      const seconds = (performance.now() - t0) / 1000;
      this.opts.metrics?.starts.inc({ function: this.fn.name, reason, result: 'ok' });
      this.opts.metrics?.startDuration.observe({ function: this.fn.name }, seconds);
      if (this.closed) {
        await inst.destroy();
        return undefined;
      }
      this.instances.add(inst);
      this.opts.instanceAdded?.();
      reserved = false; // from here the instance owns the reservation: removeInstance() returns it
      this.log.info(
        {
          fn: this.fn.name,
          container: container.id,
          instances: this.instances.size,
          ms: Math.round(performance.now() - t0),
        },
        'instance started',
      );
      return inst;
    } catch (err) {
      const log =
        err instanceof ContainerStartError && err.log ? `; its output: ${err.log.trim().slice(-500)}` : '';
      this.lastStartError =
        err instanceof ThawError
          ? err
          : new ThawError('FUNCTION_START_FAILED', `${(err as Error).message}${log}`, { cause: err });
      this.log.warn({ fn: this.fn.name, err: this.lastStartError.message }, 'instance failed to start');
      failed = true;
      this.opts.metrics?.starts.inc({ function: this.fn.name, reason, result: this.lastStartError.code });
      return undefined;
    } finally {
      if (reserved) this.opts.memory.release(this.fn.memoryMiB);
      this.starting--;
      this.dispatch(!failed);
    }
  }

  private freeSlot(): Instance | undefined {
    let best: Instance | undefined;
    for (const inst of this.instances) {
      // Dead instances leave the set when a request finds them dead (replace()), not here: this
      // runs for every request, and a liveness check costs a read of /proc.
      if (inst.busy >= this.fn.concurrency) continue;
      // Pack requests onto busy instances first, so idle ones stay frozen and can age out.
      if (!best || inst.busy > best.busy || (inst.busy === best.busy && inst.lastUsed > best.lastUsed))
        best = inst;
    }
    return best;
  }

  private setInflight(delta: number): void {
    const now = performance.now();
    this.area += this.inflight * (now - this.lastChange);
    this.lastChange = now;
    this.inflight += delta;
  }

  /**
   * Hands free slots to waiting requests; when none is free, starts more (unless `mayStart` is
   * false: right after a failed start, which would fail the same way again), and fails the
   * waiters when nothing runs and nothing is starting.
   */
  private dispatch(mayStart = true): void {
    for (;;) {
      const waiter = this.waiters[0];
      if (!waiter) return;
      const inst = this.freeSlot();
      if (!inst) break;
      this.waiters.shift();
      clearTimeout(waiter.timer);
      this.setInflight(1);
      void inst.acquire().then(() => waiter.resolve(inst));
    }
    if (this.waiters.length === 0) return;
    // From zero, this starts the first instance; only when nothing runs and nothing could be
    // started are the waiters failed (with why the last start failed).
    if (mayStart) this.scaleFor(this.waiters.length);
    if (this.instances.size === 0 && this.starting === 0) {
      const err =
        this.lastStartError ?? new ThawError('FUNCTION_START_FAILED', 'no instance could be started');
      for (const w of this.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(err);
      }
    }
  }

  /** Reactive scale-up: enough instances starting to take `waiting` requests, within max. */
  private scaleFor(waiting: number): void {
    const needed = Math.ceil(waiting / this.fn.concurrency) - this.starting;
    const room = this.fn.maxInstances - this.instances.size - this.starting;
    for (let i = 0; i < Math.min(needed, room); i++) void this.startInstance('request');
  }

  private slot(): Promise<Instance> {
    const free = this.waiters.length === 0 ? this.freeSlot() : undefined;
    if (free) {
      this.setInflight(1);
      return free.acquire().then(() => free);
    }
    const limit = (this.opts.queuePerInstance ?? 10) * this.fn.maxInstances * this.fn.concurrency;
    if (this.waiters.length >= limit) {
      return Promise.reject(
        new ThawError(
          'OVERLOADED',
          `function "${this.fn.name}" has ${this.waiters.length} requests waiting already`,
        ),
      );
    }
    if (this.instances.size + this.starting >= this.fn.maxInstances) this.saturatedAt = performance.now();
    return new Promise<Instance>((resolve, reject) => {
      const waiter: Waiter = {
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
      };
      this.waiters.push(waiter);
      this.dispatch();
    });
  }

  async invoke(req: InvokeRequest): Promise<InvokeResult> {
    const t0 = performance.now();
    const result = await this.serve(req);
    const m = this.opts.metrics;
    if (m) {
      m.invocations.inc({ function: this.fn.name, outcome: result.ok ? String(result.status) : result.code });
      m.duration.observe({ function: this.fn.name }, (performance.now() - t0) / 1000);
    }
    return result;
  }

  private async serve(req: InvokeRequest): Promise<InvokeResult> {
    if (this.closed)
      return { ok: false, code: 'FUNCTION_NOT_FOUND', message: `function ${this.fn.name} was removed` };
    let inst: Instance;
    try {
      inst = await this.slot();
    } catch (err) {
      const e = err instanceof ThawError ? err : new ThawError('INTERNAL', String(err));
      return { ok: false, code: e.code, message: e.message };
    }
    try {
      const result = await forward(inst, req, this.fn.timeoutMs);
      if (!result.ok && result.crashed) this.replace(inst);
      else this.judge(inst, result);
      return result;
    } finally {
      inst.release();
      this.setInflight(-1);
      if (this.retiring.has(inst) && inst.busy === 0) void this.removeInstance(inst, 'retired');
      this.dispatch();
    }
  }

  /**
   * Counts the instance's failures in a row; at the limit takes it out of the pool at once
   * (no new call goes to it) and destroys it when its calls in flight end.
   */
  private judge(inst: Instance, result: InvokeResult): void {
    if (result.ok) {
      inst.failuresInARow = 0;
      return;
    }
    if (!INSTANCE_FAILURES.has(result.code)) return;
    inst.failuresInARow++;
    const limit = this.opts.retireAfterFailures ?? 3;
    if (inst.failuresInARow < limit || !this.instances.delete(inst)) return;
    this.retiring.add(inst);
    this.log.warn(
      { fn: this.fn.name, container: inst.container.id, failures: inst.failuresInARow, last: result.code },
      'instance failed calls in a row; replacing it',
    );
    if (!this.closed && this.instances.size + this.starting < Math.max(1, this.fn.minInstances)) {
      void this.startInstance('replace');
    }
  }

  /** Takes the instance out of the pool, destroys it and returns its memory to the budget. */
  private async removeInstance(inst: Instance, why: string): Promise<void> {
    if (!this.instances.delete(inst) && !this.retiring.delete(inst)) return;
    this.log.info(
      { fn: this.fn.name, container: inst.container.id, instances: this.instances.size, why },
      'instance removed',
    );
    try {
      await inst.destroy();
    } catch (err) {
      this.log.error({ err, fn: this.fn.name, container: inst.container.id }, 'removing an instance failed');
    } finally {
      this.opts.memory.release(this.fn.memoryMiB);
    }
  }

  /** Idle instances above the minimum, least recently used first: what memory pressure may take. */
  evictable(): Instance[] {
    const idle = [...this.instances].filter((i) => i.busy === 0).sort((a, b) => a.lastUsed - b.lastUsed);
    return idle.slice(0, Math.max(0, this.instances.size - this.fn.minInstances));
  }

  evict(inst: Instance): Promise<void> {
    if (inst.busy > 0) return Promise.resolve();
    this.opts.metrics?.evictions.inc({ function: this.fn.name });
    return this.removeInstance(inst, 'evicted for memory');
  }

  /** What the metrics' gauges show of this function. */
  gauges(): FunctionGauges {
    let frozen = 0;
    for (const i of this.instances) if (i.container.state === 'frozen') frozen++;
    return {
      name: this.fn.name,
      starting: this.starting,
      running: this.instances.size - frozen,
      frozen,
      queued: this.waiters.length,
      desired: this.lastDecision.desired,
      panicking: this.lastDecision.panic,
    };
  }

  snapshot(): HostSnapshot {
    return {
      name: this.fn.name,
      starting: this.starting,
      instances: [...this.instances].map((i) => ({
        id: i.container.id,
        state: i.container.state === 'frozen' ? 'frozen' : 'running',
        busy: i.busy,
        revision: this.fn.revision,
      })),
    };
  }

  private replace(dead: Instance): void {
    if (!this.instances.has(dead)) return;
    this.log.warn({ fn: this.fn.name, container: dead.container.id }, 'instance crashed; replacing it');
    void this.removeInstance(dead, 'crashed');
    if (!this.closed && this.instances.size + this.starting < Math.max(1, this.fn.minInstances)) {
      void this.startInstance('replace');
    }
  }

  private tick(): void {
    if (this.closed) return;
    const now = performance.now();
    this.setInflight(0);
    const sample = this.area / Math.max(1, now - this.lastTick);
    this.area = 0;
    this.lastTick = now;
    this.autoscaler.record(now, sample);
    const current = this.instances.size + this.starting;
    const d = this.autoscaler.decide(now, current);
    if (d.desired !== this.lastDecision.desired || d.panic !== this.lastDecision.panic) {
      this.log.info({ fn: this.fn.name, ...d, current }, 'autoscaler decision');
      const direction =
        d.desired > this.lastDecision.desired
          ? 'up'
          : d.desired < this.lastDecision.desired
            ? 'down'
            : 'same';
      this.opts.metrics?.scaling.inc({ function: this.fn.name, direction });
    }
    this.lastDecision = { desired: d.desired, panic: d.panic };
    // Ahead of demand: new instances start, and freeze until a request comes.
    for (let i = current; i < d.desired; i++) {
      void this.startInstance('autoscaler').then((inst) => inst?.freezeIfIdle());
    }
    // Idle instances beyond what is wanted age out; never below minInstances.
    const keep = Math.max(d.desired, this.fn.minInstances);
    for (const inst of [...this.instances].sort((a, b) => a.lastUsed - b.lastUsed)) {
      if (this.instances.size <= keep) break;
      if (inst.busy === 0 && now - inst.lastUsed >= this.fn.idleTtlMs) {
        void this.removeInstance(inst, 'idle time-to-live');
      }
    }
  }

  /** Resolves once no request is in flight or waiting for an instance, or after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((this.inflight > 0 || this.waiters.length > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.ticker);
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new ThawError('FUNCTION_NOT_FOUND', `function ${this.fn.name} was removed`));
    }
    while (this.starting > 0) await new Promise((r) => setTimeout(r, 10));
    await Promise.allSettled(
      [...this.instances, ...this.retiring].map((i) => this.removeInstance(i, 'function closed')),
    );
  }
}
