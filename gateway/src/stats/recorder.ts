import { binOf, CALLS, COLD, ERRORS, FIRST_BIN, SLOTS } from './histogram.js';

/** Where the recorder reads time: a monotonic clock for latencies, the wall clock for buckets. */
export interface StatsClock {
  /** Monotonic ms (performance.now()). */
  now(): number;
  /** Epoch ms (Date.now()): buckets start at the same instants on every gateway. */
  wall(): number;
}

export const systemClock: StatsClock = { now: () => performance.now(), wall: () => Date.now() };

/** Counters not yet written: bucket start (epoch ms) → function → slots (histogram.ts). */
export type Pending = Map<number, Map<string, Float64Array>>;

export interface CallRecorderOptions {
  clock: StatsClock;
  bucketMs: number;
}

/**
 * The in-memory side of the call figures. A call costs a clock read at each end, a map lookup
 * and three or four increments; the wall clock is read once per bucket (or per flush), and an
 * array is made once per function per bucket.
 */
export class CallRecorder {
  private pending: Pending = new Map();
  /** The current bucket's counters (an entry of `pending`), and when it ends (monotonic ms). */
  private bucket = new Map<string, Float64Array>();
  private bucketEndsAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly o: CallRecorderOptions) {}

  /** The start of a call, for record(). */
  start(): number {
    return this.o.clock.now();
  }

  record(name: string, startedAt: number, error: boolean, cold: boolean): void {
    const end = this.o.clock.now();
    if (end >= this.bucketEndsAt) this.roll(end);
    let c = this.bucket.get(name);
    if (c === undefined) {
      c = new Float64Array(SLOTS);
      this.bucket.set(name, c);
    }
    add(c, CALLS, 1);
    if (error) add(c, ERRORS, 1);
    if (cold) add(c, COLD, 1);
    add(c, FIRST_BIN + binOf(end - startedAt), 1);
  }

  /** Everything recorded since the last take. */
  take(): Pending {
    const out = this.pending;
    this.pending = new Map();
    this.bucketEndsAt = Number.NEGATIVE_INFINITY;
    return out;
  }

  private roll(end: number): void {
    const wall = this.o.clock.wall();
    const start = wall - (wall % this.o.bucketMs);
    this.bucketEndsAt = end + (start + this.o.bucketMs - wall);
    let b = this.pending.get(start);
    if (b === undefined) {
      b = new Map();
      this.pending.set(start, b);
    }
    this.bucket = b;
  }
}

function add(c: Float64Array, i: number, n: number): void {
  c[i] = (c[i] ?? 0) + n;
}
