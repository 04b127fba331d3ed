import type { Container, RunnableImage, Runtime } from '@thaw/runtime';
import type { FunctionRecord, InvokeRequest, Logger, RemovalReason, StartPhases } from '@thaw/shared';
import { ThawError } from '@thaw/shared';
import type { RuntimeApi } from '../lambda/api.js';
import type { FunctionGauges, WorkerMetrics } from '../metrics/metrics.js';
import { AUTOSCALER_TICK_MS } from '../timings.js';
import { Admission } from './admission.js';
import { Autoscaler, DEFAULT_AUTOSCALER } from './autoscaler.js';
import { ContainerFactory } from './factory.js';
import { forward, type InvokeResult } from './forward.js';
import type { Instance } from './instance.js';
import { InstancePool, type MemoryReservations } from './pool.js';
import { ConcurrencySampler } from './sampler.js';
import type { Semaphore } from './semaphore.js';

/** What every function's pool on a worker shares: the settings and the worker-wide parts. */
export interface HostOptions {
  freezeAfterMs: number;
  /** The worker's Lambda Runtime API, for instances of `lambda` functions. */
  lambdaApi?: RuntimeApi;
  startTimeoutMs: number;
  /** How often the autoscaler samples concurrency and decides. */
  tickMs?: number;
  /** Requests that may wait for an instance, per instance slot (default: capacity.ts WAITING_PER_SLOT). */
  queuePerInstance?: number;
  /** The worker's memory budget, shared by all its functions. */
  memory: MemoryReservations;
  /** Container starts in progress on this worker, shared by all its functions. */
  starts?: Semaphore;
  metrics?: WorkerMetrics;
  /**
   * Platform-side failures in a row (UPSTREAM_ERROR, FUNCTION_TIMEOUT) after which an instance
   * is retired and replaced; default 3.
   */
  retireAfterFailures?: number;
  /** Called when an instance joins the pool: the log collector watches its files from then on. */
  instanceAdded?: () => void;
  /** Called when an instance leaves a function's pool, with why (counted per function). */
  instanceRemoved?: (fn: string, reason: RemovalReason) => void;
}

export interface FunctionHostOptions extends HostOptions {
  fn: FunctionRecord;
  image: RunnableImage;
  runtime: Runtime;
  log: Logger;
}

/** What a heartbeat says of one function on this worker. */
export interface HostSnapshot {
  name: string;
  starting: number;
  removed: Partial<Record<RemovalReason, number>>;
  instances: {
    id: string;
    state: 'running' | 'frozen';
    busy: number;
    revision: number;
    memoryMiB?: number;
    start?: StartPhases;
  }[];
}

function failure(e: ThawError): InvokeResult {
  return { ok: false, code: e.code, message: e.message };
}

/**
 * A function's revision on this worker: its pool of instances (pool.ts), admission of requests
 * to them (admission.ts), and the autoscaler, fed the average concurrency every tick, which
 * starts instances ahead of demand (frozen spares). Idle instances stay frozen until memory is
 * needed (memory/evictor.ts) or on request (scaleToZero); only a function with `idleTtlMs` has
 * instances idle longer than that removed, while there are more than the autoscaler and
 * `minInstances` ask for.
 */
export class FunctionHost {
  readonly fn: FunctionRecord;
  private readonly factory: ContainerFactory;
  private readonly pool: InstancePool<Instance>;
  private readonly admission: Admission<Instance>;
  private readonly sampler = new ConcurrencySampler();
  private readonly autoscaler: Autoscaler;
  private readonly ticker: NodeJS.Timeout;
  private readonly log: Logger;
  private readonly metrics: WorkerMetrics | undefined;
  // Each call's metrics through children made once: labelling a sample hashes its labels, and
  // per call that was 3-4% of the worker's CPU under warm c32. These series are never reset.
  private readonly outcomes = new Map<string, { inc(): void }>();
  private durations: { observe(seconds: number): void } | undefined;
  private lastDecision = { desired: 0, panic: false };
  private closing: Promise<void> | undefined;
  /** drain() callers, told when no request is in flight or waiting. */
  private idleWaiters: (() => void)[] = [];

  constructor(opts: FunctionHostOptions) {
    const { fn, log, metrics } = opts;
    this.fn = fn;
    this.log = log;
    this.metrics = metrics;
    this.factory = new ContainerFactory(opts);
    this.pool = new InstancePool<Instance>({
      fn,
      factory: this.factory,
      memory: opts.memory,
      log,
      metrics,
      retireAfterFailures: opts.retireAfterFailures,
      onAdded: opts.instanceAdded,
      onRemoved: (reason) => opts.instanceRemoved?.(fn.name, reason),
      onStartSettled: (ok) => this.admission.dispatch(ok),
    });
    this.admission = new Admission({
      fn,
      pool: this.pool,
      sampler: this.sampler,
      memory: opts.memory,
      queuePerInstance: opts.queuePerInstance,
    });
    this.autoscaler = new Autoscaler({
      targetPerInstance: fn.concurrency * DEFAULT_AUTOSCALER.targetUtilisation,
      stableWindowMs: Math.min(DEFAULT_AUTOSCALER.stableWindowMs, fn.idleTtlMs ?? Number.POSITIVE_INFINITY),
      panicWindowMs: Math.min(DEFAULT_AUTOSCALER.panicWindowMs, fn.idleTtlMs ?? Number.POSITIVE_INFINITY),
      panicThreshold: DEFAULT_AUTOSCALER.panicThreshold,
      minInstances: fn.minInstances,
      // What admission allows: maxInstances cut to what the memory budget holds.
      maxInstances: this.admission.maxInstances,
    });
    this.ticker = setInterval(() => this.tick(), opts.tickMs ?? AUTOSCALER_TICK_MS);
    this.ticker.unref();
  }

  get size(): number {
    return this.pool.size;
  }

  /** Whether, lately, a request had to wait while the pool was at its maximum. */
  get saturated(): boolean {
    return this.admission.saturated;
  }

  instanceList(): Instance[] {
    return [...this.pool.live];
  }

  containers(): Container[] {
    return this.instanceList().map((i) => i.container);
  }

  /** Starts max(1, minInstances) instances and leaves them frozen: the first request is a thaw. */
  async warm(): Promise<void> {
    const n = Math.max(1, this.fn.minInstances);
    const started = await Promise.all(Array.from({ length: n }, () => this.pool.start('minimum')));
    await Promise.all(started.map((i) => i?.freezeIfIdle()));
    if (started.every((i) => !i)) throw this.pool.lastStartError ?? new ThawError('FUNCTION_START_FAILED');
  }

  async invoke(req: InvokeRequest): Promise<InvokeResult> {
    const t0 = performance.now();
    const result = await this.serve(req);
    const m = this.metrics;
    if (m) {
      const outcome = result.ok ? String(result.status) : result.code;
      let counter = this.outcomes.get(outcome);
      if (!counter) {
        counter = m.invocations.labels({ function: this.fn.name, outcome });
        this.outcomes.set(outcome, counter);
      }
      counter.inc();
      this.durations ??= m.duration.labels({ function: this.fn.name });
      this.durations.observe((performance.now() - t0) / 1000);
    }
    return result;
  }

  private async serve(req: InvokeRequest): Promise<InvokeResult> {
    if (this.closing) return failure(this.removedError());
    let inst: Instance;
    try {
      // The request is the ticket: admission marks it cold, with no object made for a warm call.
      inst = await this.admission.take(req);
    } catch (err) {
      this.tellIfIdle();
      return failure(err instanceof ThawError ? err : new ThawError('INTERNAL', String(err)));
    }
    try {
      const result = await forward(inst, req, this.fn.timeoutMs);
      this.pool.report(inst, result);
      return result;
    } finally {
      inst.release();
      this.sampler.leave();
      this.pool.released(inst);
      this.admission.dispatch();
      this.tellIfIdle();
    }
  }

  private removedError(): ThawError {
    return new ThawError('FUNCTION_NOT_FOUND', `function ${this.fn.name} was removed`);
  }

  /** Removes an idle instance the evictor chose for its memory. */
  evict(inst: Instance): Promise<void> {
    return this.pool.evict(inst);
  }

  /** Removes every idle instance above `minInstances` (reason `requested`). */
  scaleToZero(): Promise<void> {
    // Forget the demand seen so far: its window would start the removed instances again at the
    // next tick.
    this.autoscaler.reset();
    this.sampler.sample(); // and the part of it not sampled yet
    this.lastDecision = { desired: this.fn.minInstances, panic: false };
    return this.pool.scaleToZero();
  }

  /** What the metrics' gauges show of this function. */
  gauges(): FunctionGauges {
    let frozen = 0;
    for (const i of this.pool.live) if (i.container.state === 'frozen') frozen++;
    return {
      name: this.fn.name,
      starting: this.pool.starting,
      running: this.pool.size - frozen,
      frozen,
      queued: this.admission.queued,
      desired: this.lastDecision.desired,
      panicking: this.lastDecision.panic,
    };
  }

  snapshot(): HostSnapshot {
    return {
      name: this.fn.name,
      starting: this.pool.starting,
      removed: { ...this.pool.removed },
      instances: this.instanceList().map((i) => ({
        id: i.id,
        state: i.container.state === 'frozen' ? 'frozen' : 'running',
        busy: i.busy,
        revision: this.fn.revision,
        memoryMiB: i.charge?.chargedMiB ?? this.fn.memoryMiB,
        ...(i.start ? { start: i.start } : {}),
      })),
    };
  }

  private tick(): void {
    if (this.closing) return;
    const now = performance.now();
    this.autoscaler.record(now, this.sampler.sample());
    const current = this.pool.size + this.pool.starting;
    const d = this.autoscaler.decide(now, current);
    if (d.desired !== this.lastDecision.desired || d.panic !== this.lastDecision.panic) {
      this.log.info({ fn: this.fn.name, ...d, current }, 'autoscaler decision');
      const last = this.lastDecision.desired;
      const direction = d.desired > last ? 'up' : d.desired < last ? 'down' : 'same';
      this.metrics?.scaling.inc({ function: this.fn.name, direction });
    }
    this.lastDecision = { desired: d.desired, panic: d.panic };
    // Ahead of demand: new instances start, and freeze until a request comes.
    for (let i = current; i < d.desired; i++) {
      void this.pool.start('autoscaler').then((inst) => inst?.freezeIfIdle());
    }
    // Idle instances beyond what is wanted age out; never below minInstances.
    if (this.fn.idleTtlMs !== undefined)
      this.pool.ageOut(Math.max(d.desired, this.fn.minInstances), this.fn.idleTtlMs, now);
  }

  private get idle(): boolean {
    return this.sampler.inflight === 0 && this.admission.queued === 0;
  }

  private tellIfIdle(): void {
    if (!this.idle) return;
    for (const tell of this.idleWaiters.splice(0)) tell();
  }

  /** Resolves once no request is in flight or waiting for an instance, or after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    if (this.idle) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.idleWaiters.push(done);
    });
  }

  /** Idempotent: fails the waiting requests, then removes every instance once starts end. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.ticker);
      this.admission.rejectAll(this.removedError());
      await this.pool.close();
      // The instance prepared ahead for this function is not coming either.
      await this.factory
        .close()
        .catch((err: unknown) =>
          this.log.warn({ err, fn: this.fn.name }, 'removing the prepared instance failed'),
        );
    })();
    return this.closing;
  }
}
