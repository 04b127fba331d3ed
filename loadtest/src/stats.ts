export interface Summary {
  p50_ms: number;
  p99_ms: number;
  n: number;
}

/** Nearest-rank percentile of a sample (p in 0..100). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) throw new Error('no samples');
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return { p50_ms: round(percentile(sorted, 50)), p99_ms: round(percentile(sorted, 99)), n: sorted.length };
}
