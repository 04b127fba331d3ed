import type { Container } from '@thaw/runtime';
import type { Logger, StartPhases } from '@thaw/shared';
import { ThawError } from '@thaw/shared';
import { Pool } from 'undici';
import type { LambdaSession } from '../lambda/session.js';
import type { MemoryCharge } from '../memory/charge.js';
import type { WorkerMetrics } from '../metrics/metrics.js';
import { KEEP_ALIVE } from '../timings.js';
import type { PooledInstance } from './pool.js';

export interface InstanceOptions {
  container: Container;
  /** Idle time after the last request ends before it is frozen again; Infinity: never frozen. */
  freezeAfterMs: number;
  log: Logger;
  metrics?: WorkerMetrics;
  /** Its cold start, phase by phase, when the factory measured it. */
  start?: StartPhases;
  /** Set for an instance of a `lambda` function: calls go to its runtime as events. */
  lambda?: LambdaSession;
}

/**
 * One running container of a function: a keep-alive connection pool to it, and the idle
 * freeze policy. A request thaws it (a write to the freezer file); when the last request has
 * been idle for `freezeAfterMs` it is frozen again and costs no CPU. Its memory charge
 * (memory/charge.ts) drops to its usage when it freezes and goes back to its limit, reserved
 * first, before it thaws.
 */
export class Instance implements PooledInstance {
  readonly container: Container;
  readonly http: Pool;
  readonly start: StartPhases | undefined;
  readonly lambda: LambdaSession | undefined;
  private readonly freezeAfterMs: number;
  private readonly log: Logger;
  private readonly metrics: WorkerMetrics | undefined;
  private inflight = 0;
  /** When the last request ended (performance.now()), for the idle time-to-live. */
  lastUsed = performance.now();
  /** Requests it has finished: a call that waited and gets it at 0 is a cold start. */
  served = 0;
  /** Calls in a row that got no answer from it (the pool retires it at a limit). */
  failuresInARow = 0;
  /** Set by the pool once the instance joins it. */
  charge: MemoryCharge | undefined;
  private timer: NodeJS.Timeout | undefined;
  private freezing: Promise<void> | undefined;
  private closed = false;
  private destroying: Promise<void> | undefined;

  constructor({ container, freezeAfterMs, log, metrics, start, lambda }: InstanceOptions) {
    this.container = container;
    this.start = start;
    this.lambda = lambda;
    this.freezeAfterMs = freezeAfterMs;
    this.log = log;
    this.metrics = metrics;
    this.http = new Pool(`http://${container.ip}:${container.port}`, {
      connections: KEEP_ALIVE.connections,
      keepAliveTimeout: KEEP_ALIVE.idleTimeoutMs,
      pipelining: 1,
    });
  }

  get id(): string {
    return this.container.id;
  }

  get busy(): number {
    return this.inflight;
  }

  /** Makes the instance runnable for one request. */
  async acquire(): Promise<void> {
    this.inflight++;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.freezing) await this.freezing;
    // Synchronous when the budget has room (a number compare): the hot path of a sparse call.
    if (this.charge && !this.charge.tryRaise() && !(await this.charge.raise())) {
      throw new ThawError(
        'OVERLOADED',
        `this worker's memory budget cannot hold instance ${this.id} running (${this.charge.limitMiB} MiB) even after evicting idle instances`,
      );
    }
    if (this.metrics && this.container.state === 'frozen') {
      const t0 = performance.now();
      this.container.thaw();
      this.metrics.thawDuration.observe((performance.now() - t0) / 1000);
    } else {
      this.container.thaw();
    }
  }

  release(): void {
    this.inflight--;
    this.served++;
    this.lastUsed = performance.now();
    if (this.inflight === 0 && !this.closed && Number.isFinite(this.freezeAfterMs)) {
      this.timer = setTimeout(() => this.freezeIfIdle(), this.freezeAfterMs);
      this.timer.unref();
    }
  }

  /** Freezes it when no call holds it; with FREEZE_AFTER_MS=never, does nothing. */
  freezeIfIdle(): Promise<void> {
    if (this.inflight > 0 || this.closed || this.freezing || !Number.isFinite(this.freezeAfterMs))
      return this.freezing ?? Promise.resolve();
    const t0 = performance.now();
    this.freezing = this.container
      .freeze()
      .then(() => {
        this.metrics?.freezeDuration.observe((performance.now() - t0) / 1000);
        // Read frozen: the usage cannot grow until the next thaw, which raises the charge first.
        if (this.charge) this.lowerCharge(this.charge);
      })
      .catch((err: unknown) =>
        this.log.warn({ err, container: this.container.id }, 'freeze failed; left running'),
      )
      .finally(() => {
        this.freezing = undefined;
      });
    return this.freezing ?? Promise.resolve();
  }

  private lowerCharge(charge: MemoryCharge): void {
    try {
      charge.lower(this.container.stats().memoryBytes);
    } catch (err) {
      // Unread, it stays charged its limit: too much, never too little.
      this.log.warn({ err, container: this.container.id }, 'reading a frozen instance’s memory failed');
    }
  }

  /** Idempotent: its keep-alive pool, then its container. */
  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      this.closed = true;
      if (this.timer) clearTimeout(this.timer);
      this.lambda?.close();
      await this.freezing;
      await this.http.destroy().catch(() => undefined);
      await this.container.destroy();
    })();
    return this.destroying;
  }
}
