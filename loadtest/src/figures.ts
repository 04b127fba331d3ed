import { median, percentile } from './stats.js';

/** One request of a load run; times in seconds from the start of the load. */
export interface Call {
  start: number;
  end: number;
  /** HTTP status, 0 when the request failed without one. */
  status: number;
}

export interface SecondFigures {
  /** The second, counted from 0: calls that ended in [t, t + 1). */
  t: number;
  rps: number;
  p50: number;
  p99: number;
}

/** Throughput and latency (ms) per second of the load, failed calls included. */
export function perSecond(calls: Call[], seconds: number): SecondFigures[] {
  return Array.from({ length: seconds }, (_, t) => {
    const ms = calls
      .filter((c) => c.end >= t && c.end < t + 1)
      .map((c) => (c.end - c.start) * 1000)
      .sort((a, b) => a - b);
    return {
      t,
      rps: ms.length,
      p50: ms.length ? percentile(ms, 50) : 0,
      p99: ms.length ? percentile(ms, 99) : 0,
    };
  });
}

/**
 * The steady throughput of a load held `holdS` seconds: the median of its second half, when
 * the pool had time to grow; 0 when the hold is too short to have a second half.
 */
export function steadyLevel(seconds: SecondFigures[], holdS: number): number {
  const tail = seconds.filter((s) => s.t >= holdS / 2 && s.t < holdS).map((s) => s.rps);
  return tail.length ? median(tail) : 0;
}

/** Seconds until throughput first reached 90% of the steady level (end of that second). */
export function rampSeconds(seconds: SecondFigures[], steady: number): number | null {
  if (steady <= 0) return null;
  const reached = seconds.find((s) => s.rps >= 0.9 * steady);
  return reached ? reached.t + 1 : null;
}

/** When a sampled series first reached `level` (its time), or null if it never did. */
export function firstReached(samples: { t: number; value: number }[], level: number): number | null {
  return samples.find((s) => s.value >= level)?.t ?? null;
}
