export interface Summary {
  p50_ms: number;
  p99_ms: number;
  n: number;
}

/** Nearest-rank percentile of a sorted sample (p in 0..100): always one of the samples. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) throw new Error('no samples');
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** The middle value; with an even count, the mean of the two middle ones. */
export function median(samples: number[]): number {
  if (samples.length === 0) throw new Error('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const upper = sorted[mid] as number;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] as number) + upper) / 2;
}

/** Rounds to `digits` decimals, as every figure in results/*.json is. */
export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** How many times `a` is `b` (the README's "7.9× the direct p50"); refuses a zero baseline. */
export function ratio(a: number, b: number): number {
  if (!(b > 0)) throw new Error(`no ratio to a baseline of ${b}`);
  return a / b;
}

export function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    p50_ms: round(percentile(sorted, 50), 3),
    p99_ms: round(percentile(sorted, 99), 3),
    n: sorted.length,
  };
}
