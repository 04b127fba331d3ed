/**
 * A Knative-KPA-style autoscaler, pure logic: it is fed the observed concurrency (requests in
 * flight, averaged per tick) and answers how many instances there should be.
 * - stable mode: desired = ceil(average over the stable window / target per instance);
 * - panic mode, entered when the short panic window asks for `panicThreshold`× the current
 *   capacity: desired follows the panic window and never goes down, until a whole stable window
 *   passes without a new panic;
 * - clamped to [min, max]; with min 0 and no traffic for a stable window it says 0.
 */
export interface AutoscalerConfig {
  /** Requests in flight one instance should carry: containerConcurrency × target utilisation. */
  targetPerInstance: number;
  stableWindowMs: number;
  panicWindowMs: number;
  /** Desired/current ratio (on the panic window) that starts panic mode. */
  panicThreshold: number;
  minInstances: number;
  maxInstances: number;
}

export interface Decision {
  desired: number;
  panic: boolean;
  stableAverage: number;
  panicAverage: number;
}

export const DEFAULT_AUTOSCALER = {
  stableWindowMs: 60_000,
  panicWindowMs: 6_000,
  panicThreshold: 2,
  targetUtilisation: 0.7,
} as const;

export class Autoscaler {
  private readonly samples: { t: number; value: number }[] = [];
  private panicUntil = 0;
  private panicDesired = 0;

  constructor(private readonly cfg: AutoscalerConfig) {
    if (cfg.targetPerInstance <= 0) throw new Error('targetPerInstance must be positive');
    if (cfg.panicWindowMs > cfg.stableWindowMs)
      throw new Error('the panic window must be within the stable window');
  }

  /** Forgets every observation and any panic: as if just made (a scale to zero on request). */
  reset(): void {
    this.samples.length = 0;
    this.panicUntil = 0;
    this.panicDesired = 0;
  }

  /** One observation of the average concurrency since the last one, taken at time `t` (ms). */
  record(t: number, concurrency: number): void {
    this.samples.push({ t, value: concurrency });
    const horizon = t - this.cfg.stableWindowMs;
    while (this.samples.length > 0 && (this.samples[0] as { t: number }).t <= horizon) this.samples.shift();
  }

  private average(now: number, windowMs: number): number {
    let sum = 0;
    let n = 0;
    for (const s of this.samples) {
      if (s.t > now - windowMs) {
        sum += s.value;
        n++;
      }
    }
    return n === 0 ? 0 : sum / n;
  }

  decide(now: number, current: number): Decision {
    const { targetPerInstance, minInstances, maxInstances, panicThreshold, stableWindowMs, panicWindowMs } =
      this.cfg;
    const stableAverage = this.average(now, stableWindowMs);
    const panicAverage = this.average(now, panicWindowMs);
    const clamp = (n: number) => Math.min(maxInstances, Math.max(minInstances, n));
    const stableDesired = Math.ceil(stableAverage / targetPerInstance);
    const panicDesired = Math.ceil(panicAverage / targetPerInstance);
    // From zero every demand is a panic: there is no capacity to compare with.
    if (panicDesired > 0 && panicDesired >= panicThreshold * Math.max(current, 0.5)) {
      if (now >= this.panicUntil) this.panicDesired = 0;
      this.panicUntil = now + stableWindowMs;
    }
    if (now < this.panicUntil) {
      // No scale-down while panicking: keep the most ever asked for in this panic.
      this.panicDesired = Math.max(this.panicDesired, panicDesired, current);
      return { desired: clamp(this.panicDesired), panic: true, stableAverage, panicAverage };
    }
    return { desired: clamp(stableDesired), panic: false, stableAverage, panicAverage };
  }
}
