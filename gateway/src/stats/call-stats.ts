import type { FunctionRecord, Logger } from '@thaw/shared';
import type { Redis } from 'ioredis';
import type { Answer, Envelope, Invoke } from '../calls/types.js';
import { type StatsAnswer, shape, window } from './query.js';
import { CallRecorder, type StatsClock, systemClock } from './recorder.js';
import { StatsStore } from './store.js';
import { Unflushed } from './unflushed.js';

/** The figures' resolution: one bucket per function per 10 s. */
export const BUCKET_MS = 10_000;
/** How often a gateway adds its counters to Redis. */
export const FLUSH_EVERY_MS = 2000;
/** How long a bucket is kept in Redis: the longest window GET /v1/stats answers. */
export const RETENTION_MS = 3_600_000;
/** Counters Redis could not take are kept this long for later flushes, then dropped. */
export const KEEP_UNFLUSHED_MS = 300_000;
/**
 * How long Redis remembers a flush batch's id: past the last retry of that batch (its buckets
 * are dropped KEEP_UNFLUSHED_MS after they start), so a batch is never applied twice.
 */
export const FLUSH_MARK_MS = 600_000;
/** GET /v1/stats without names answers this many functions at most, the ones called last. */
export const MAX_FUNCTIONS = 100;

export interface CallStatsOptions {
  redis: Redis;
  prefix: string;
  log: Logger;
  /** Tests: a fake clock. */
  clock?: StatsClock;
  /** Tests: 0 leaves flushing to flush() calls. */
  flushEveryMs?: number;
}

/**
 * Per-function call figures over the last minutes (rate, latency, cold starts, errors), for the
 * dashboard: counted in memory per call, added to Redis every FLUSH_EVERY_MS by each gateway,
 * read back summed over all of them.
 */
export class CallStats {
  private readonly recorder: CallRecorder;
  private readonly unflushed: Unflushed;
  private readonly store: StatsStore;
  private readonly clock: StatsClock;
  private readonly timer: NodeJS.Timeout | undefined;
  /** The flush under way: flushes run one at a time. */
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(readonly o: CallStatsOptions) {
    this.clock = o.clock ?? systemClock;
    this.recorder = new CallRecorder({ clock: this.clock, bucketMs: BUCKET_MS });
    this.unflushed = new Unflushed({ wall: () => this.clock.wall(), keepMs: KEEP_UNFLUSHED_MS });
    this.store = new StatsStore({
      redis: o.redis,
      prefix: o.prefix,
      retentionMs: RETENTION_MS,
      markMs: FLUSH_MARK_MS,
    });
    const every = o.flushEveryMs ?? FLUSH_EVERY_MS;
    if (every > 0) {
      this.timer = setInterval(() => void this.flush(), every);
      this.timer.unref();
    }
  }

  /** `invoke`, with each call counted: an error is a throw or an answer of status 500 or more. */
  observe(invoke: Invoke): Invoke {
    const r = this.recorder;
    return async (fn: FunctionRecord, env: Envelope): Promise<Answer> => {
      const start = r.start();
      let answer: Answer;
      try {
        answer = await invoke(fn, env);
      } catch (err) {
        r.record(fn.name, start, true, false);
        throw err;
      }
      r.record(fn.name, start, answer.status >= 500, answer.cold === true);
      return answer;
    };
  }

  /**
   * Adds what was counted to Redis, as a new batch behind those an earlier flush could not
   * write (each retried as it was first sent, see Unflushed). Never throws.
   */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      this.unflushed.add(this.recorder.take());
      const dropped = this.unflushed.trim();
      if (dropped > 0) {
        this.o.log.warn(
          { dropped, droppedTotal: this.unflushed.dropped },
          'call stats dropped: Redis lost too long',
        );
      }
      for (let b = this.unflushed.first(); b !== undefined; b = this.unflushed.first()) {
        try {
          const { refused } = await this.store.add(b, this.clock.wall());
          if (refused > 0)
            this.o.log.warn({ refused }, 'call stats: Redis refused some counters (a key of another type)');
          this.unflushed.done();
        } catch (err) {
          // Redis is not taking writes: the next flush tries again, this batch first.
          this.o.log.warn(
            { err: (err as Error).message, batches: this.unflushed.size },
            'call stats not written to Redis; kept for the next flush',
          );
          return;
        }
      }
    });
    return this.flushing;
  }

  /**
   * The figures since `since` (epoch ms) of `names` (when absent, of the MAX_FUNCTIONS
   * functions called last within the hour), summed over every gateway; this gateway's own
   * latest calls are written first.
   */
  async query(since: number, names: string[] | undefined): Promise<StatsAnswer> {
    await this.flush();
    const now = this.clock.wall();
    const { from, last } = window(since, now, BUCKET_MS);
    const series = await this.store.read({
      names,
      most: MAX_FUNCTIONS,
      from,
      last,
      bucketMs: BUCKET_MS,
      now,
    });
    return shape({ series, from, now, bucketMs: BUCKET_MS });
  }

  /** Calls whose counters were dropped because Redis could not take them for KEEP_UNFLUSHED_MS. */
  get dropped(): number {
    return this.unflushed.dropped;
  }

  /** Stops the timer and writes what is left, once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.flush();
  }
}
