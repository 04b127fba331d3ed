/**
 * A seeded synthetic invocation trace shaped like the Azure Functions statistics (Shahrad et
 * al., "Serverless in the Wild", USENIX ATC'20): per-function mean rates spread over several
 * orders of magnitude, 45% of functions called at most once an hour and 81% at most once a
 * minute; a few hot ones; some bursty (on/off). Pure: the same options give the same trace.
 *
 * Compression: the trace covers `realMinutes` of real time played in `wallSeconds`, so every
 * gap between two calls is divided by `realMinutes * 60 / wallSeconds`. Hot functions would
 * then ask for thousands of calls a second; a function's wall-clock rate is capped at
 * `maxWallRps` (a function that hot is served by a warm instance under any policy, so the cap
 * changes the number of calls, not the share of cold ones among the rest).
 */

export type TraceImage = 'node-hello' | 'busybox-httpd';

export interface TraceOptions {
  seed: number;
  functions: number;
  wallSeconds: number;
  realMinutes: number;
  maxWallRps: number;
}

export type RateClass = 'rare' | 'frequent' | 'hot';

export interface TraceFunction {
  name: string;
  image: TraceImage;
  memoryMiB: number;
  /** Mean rate in real time (calls per real minute), before compression and cap. */
  realPerMinute: number;
  /** rare: ≤ 1 call per real minute; hot: ≥ HOT_PER_MINUTE; frequent: in between. */
  rate: RateClass;
  /** Calls come in on/off bursts rather than as a Poisson stream. */
  bursty: boolean;
  /** When each call is made, milliseconds from the trace's start (wall time), ascending. */
  callsMs: number[];
}

export interface Trace {
  options: TraceOptions;
  /** Real seconds per wall second. */
  compression: number;
  functions: TraceFunction[];
}

/**
 * log10(calls per real minute) ~ Normal(MU, SIGMA) puts 45% of functions at ≤ 1/60 per minute
 * and 81% at ≤ 1 per minute, the ATC'20 paper's figures (Φ⁻¹(0.45) = −0.126, Φ⁻¹(0.81) = 0.878).
 */
export const LOG_RATE_MU = -1.557;
export const LOG_RATE_SIGMA = 1.773;
/** Bounds of log10(calls per real minute): once in ~7 days to 1,000 a minute. */
const LOG_RATE_MIN = -4;
const LOG_RATE_MAX = 3;
export const HOT_PER_MINUTE = 10;
/** Share of the non-rare functions whose calls come in on/off bursts. */
export const BURSTY_SHARE = 0.3;
/** A bursty function is on this share of the time, at 1/share times its mean rate. */
const ON_SHARE = 0.1;
/** Mean length of one on period, in wall seconds. */
const ON_MEAN_S = 3;
export const NODE_SHARE = 0.3;
const NODE_MIB = [64, 128, 256];
const BUSYBOX_MIB = [16, 32, 64];

/** mulberry32: small, fast, and the same sequence for the same seed on every platform. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normal(r: () => number): number {
  // Box-Muller; 1 − u keeps the logarithm's argument above zero.
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

const exponential = (r: () => number, mean: number) => -Math.log(1 - r()) * mean;

function poisson(r: () => number, perSecond: number, fromS: number, toS: number, out: number[]): void {
  if (perSecond <= 0) return;
  for (let t = fromS + exponential(r, 1 / perSecond); t < toS; t += exponential(r, 1 / perSecond))
    out.push(Math.round(t * 1000));
}

export function generateTrace(o: TraceOptions): Trace {
  const r = rng(o.seed);
  const compression = (o.realMinutes * 60) / o.wallSeconds;
  const functions: TraceFunction[] = [];
  for (let i = 0; i < o.functions; i++) {
    const log = Math.min(LOG_RATE_MAX, Math.max(LOG_RATE_MIN, LOG_RATE_MU + LOG_RATE_SIGMA * normal(r)));
    const realPerMinute = 10 ** log;
    const rate: RateClass =
      realPerMinute <= 1 ? 'rare' : realPerMinute >= HOT_PER_MINUTE ? 'hot' : 'frequent';
    const bursty = rate !== 'rare' && r() < BURSTY_SHARE;
    const node = r() < NODE_SHARE;
    const sizes = node ? NODE_MIB : BUSYBOX_MIB;
    const memoryMiB = sizes[Math.floor(r() * sizes.length)] as number;
    const wallRps = Math.min(o.maxWallRps, (realPerMinute / 60) * compression);
    const calls: number[] = [];
    if (!bursty) poisson(r, wallRps, 0, o.wallSeconds, calls);
    else {
      // Alternating off and on periods; on, the rate is raised so the mean stays wallRps.
      const onRps = Math.min(o.maxWallRps, wallRps / ON_SHARE);
      const offMeanS = (ON_MEAN_S * (1 - ON_SHARE)) / ON_SHARE;
      let t = exponential(r, offMeanS);
      while (t < o.wallSeconds) {
        const end = Math.min(o.wallSeconds, t + exponential(r, ON_MEAN_S));
        poisson(r, onRps, t, end, calls);
        t = end + exponential(r, offMeanS);
      }
    }
    functions.push({
      name: `tr-${String(i).padStart(3, '0')}`,
      image: node ? 'node-hello' : 'busybox-httpd',
      memoryMiB,
      realPerMinute,
      rate,
      bursty,
      callsMs: calls,
    });
  }
  return { options: o, compression, functions };
}

/** Every call of the trace in the order it is made. */
export function schedule(t: Trace): { atMs: number; name: string }[] {
  return t.functions
    .flatMap((f) => f.callsMs.map((atMs) => ({ atMs, name: f.name })))
    .sort((a, b) => a.atMs - b.atMs || a.name.localeCompare(b.name));
}
