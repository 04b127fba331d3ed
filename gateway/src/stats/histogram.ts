/**
 * The latency histogram every gateway fills: the same fixed, log-spaced bins everywhere, so the
 * counts of several gateways (and several buckets) add up to one histogram whose quantiles hold.
 */

/** The lowest bin's lower edge (ms): anything faster lands in bin 0. */
export const MIN_MS = 0.05;
/** Each bin is this much wider than the one below: a quantile is off by at most ~12%. */
export const STEP = 1.25;
/** Anything slower than this (ms) lands in the last bin. */
export const MAX_MS = 60_000;
const LOG_STEP = Math.log(STEP);
export const BINS = Math.ceil(Math.log(MAX_MS / MIN_MS) / LOG_STEP);

/** The counters of one function in one bucket: calls, errors, cold starts, then the bins. */
export const CALLS = 0;
export const ERRORS = 1;
export const COLD = 2;
export const FIRST_BIN = 3;
export const SLOTS = FIRST_BIN + BINS;

/** The bin of a latency (clamped to the first and last). */
export function binOf(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  const i = Math.floor(Math.log(ms / MIN_MS) / LOG_STEP);
  return i < BINS ? i : BINS - 1;
}

/** A bin's lower edge (ms). */
export function lowerEdge(bin: number): number {
  return MIN_MS * STEP ** bin;
}

/**
 * The q-quantile (0 < q ≤ 1) of a histogram, as its bin's geometric middle (ms, 3 decimals);
 * null when it holds nothing. `bins` starts at `offset` and holds BINS counts.
 */
export function quantile(bins: ArrayLike<number>, q: number, offset = 0): number | null {
  let total = 0;
  for (let i = 0; i < BINS; i++) total += bins[offset + i] ?? 0;
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < BINS; i++) {
    seen += bins[offset + i] ?? 0;
    if (seen >= rank) return Math.round(lowerEdge(i + 0.5) * 1000) / 1000;
  }
  return null;
}
