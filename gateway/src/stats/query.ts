import { CALLS, COLD, ERRORS, FIRST_BIN, quantile } from './histogram.js';

/** One bucket of one function, as GET /v1/stats answers it. */
export interface StatsPoint {
  /** The bucket's start (ISO 8601). */
  t: string;
  calls: number;
  errors: number;
  cold: number;
  ratePerSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface StatsAnswer {
  bucketSeconds: number;
  from: string;
  to: string;
  functions: Record<string, StatsPoint[]>;
}

/** The buckets a window covers: the one `since` falls in, through the current, still open one. */
export function window(since: number, now: number, bucketMs: number): { from: number; last: number } {
  return { from: since - (since % bucketMs), last: now - (now % bucketMs) };
}

/**
 * The answer from each function's counters per bucket (undefined: no call). The open bucket's
 * rate is over the seconds it has run so far (at least one), the others' over the whole bucket.
 */
export function shape(o: {
  series: Map<string, (Float64Array | undefined)[]>;
  from: number;
  now: number;
  bucketMs: number;
}): StatsAnswer {
  const functions: Record<string, StatsPoint[]> = {};
  for (const [name, buckets] of o.series) {
    functions[name] = buckets.map((c, i) => {
      const t = o.from + i * o.bucketMs;
      const seconds = Math.max(1, Math.min(o.bucketMs, o.now - t) / 1000);
      const calls = c?.[CALLS] ?? 0;
      return {
        t: new Date(t).toISOString(),
        calls,
        errors: c?.[ERRORS] ?? 0,
        cold: c?.[COLD] ?? 0,
        ratePerSec: Math.round((calls / seconds) * 1000) / 1000,
        p50Ms: c ? quantile(c, 0.5, FIRST_BIN) : null,
        p99Ms: c ? quantile(c, 0.99, FIRST_BIN) : null,
      };
    });
  }
  return {
    bucketSeconds: o.bucketMs / 1000,
    from: new Date(o.from).toISOString(),
    to: new Date(o.now).toISOString(),
    functions,
  };
}
