import type { Redis } from 'ioredis';
import { RedisAccess } from '../store/redis.js';
import { CALLS, COLD, ERRORS, FIRST_BIN, SLOTS } from './histogram.js';
import type { Pending } from './recorder.js';

/** The hash field of each slot: c(alls), e(rrors), k (cold), then the bins b0, b1, ... */
const FIELDS: string[] = Array.from({ length: SLOTS }, (_, i) =>
  i === CALLS ? 'c' : i === ERRORS ? 'e' : i === COLD ? 'k' : `b${i - FIRST_BIN}`,
);
const SLOT_OF = new Map(FIELDS.map((f, i) => [f, i]));

export interface StatsStoreOptions {
  redis: Redis;
  prefix: string;
  /** How long a bucket's hash (and a function in the index) is kept. */
  retentionMs: number;
}

/**
 * The call figures in Redis, shared by every gateway: one hash per function per bucket
 * (`<prefix>:stats:<bucket start s>:<function>`), summed by HINCRBY, and a sorted set of the
 * functions by their latest bucket, so that a read knows which functions to look at.
 */
export class StatsStore {
  private readonly access: RedisAccess;
  private readonly index: string;

  constructor(private readonly o: StatsStoreOptions) {
    this.access = new RedisAccess(o.redis);
    this.index = `${o.prefix}:stats:functions`;
  }

  private key(t: number, name: string): string {
    return `${this.o.prefix}:stats:${t / 1000}:${name}`;
  }

  /**
   * Adds the counters, all in one MULTI (so a failure leaves none of them written and the
   * recorder can put all of them back). Throws when Redis is not reachable.
   */
  async add(pending: Pending, now: number): Promise<void> {
    if (pending.size === 0) return;
    const ttlSec = Math.ceil(this.o.retentionMs / 1000);
    const m = this.o.redis.multi();
    for (const [t, fns] of pending) {
      for (const [name, c] of fns) {
        const key = this.key(t, name);
        for (let i = 0; i < SLOTS; i++) {
          const n = c[i] ?? 0;
          if (n !== 0) m.hincrby(key, FIELDS[i] as string, n);
        }
        m.expire(key, ttlSec);
        m.zadd(this.index, 'GT', t, name);
      }
    }
    m.zremrangebyscore(this.index, '-inf', `(${now - this.o.retentionMs}`);
    const results = await this.access.run('write', () => m.exec());
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw failed?.[0] ?? new Error('the stats transaction was discarded');
  }

  /**
   * The counters of the functions seen within the retention (narrowed to `names` when given),
   * for each bucket from `from` to `last` (bucket starts, epoch ms); undefined for a bucket
   * with no call.
   */
  async read(
    names: string[] | undefined,
    from: number,
    last: number,
    bucketMs: number,
    now: number,
  ): Promise<Map<string, (Float64Array | undefined)[]>> {
    const known = await this.access.run('read', () =>
      this.o.redis.zrangebyscore(this.index, now - this.o.retentionMs, '+inf'),
    );
    const wanted = names ? known.filter((n) => names.includes(n)).sort() : known.sort();
    const out = new Map<string, (Float64Array | undefined)[]>();
    if (wanted.length === 0) return out;
    const p = this.o.redis.pipeline();
    for (const name of wanted) for (let t = from; t <= last; t += bucketMs) p.hgetall(this.key(t, name));
    const results = (await this.access.run('read', () => p.exec())) ?? [];
    let i = 0;
    for (const name of wanted) {
      const series: (Float64Array | undefined)[] = [];
      for (let t = from; t <= last; t += bucketMs) {
        const [err, hash] = results[i++] ?? [new Error('missing reply')];
        if (err) throw err;
        series.push(parse(hash as Record<string, string>));
      }
      out.set(name, series);
    }
    return out;
  }
}

function parse(hash: Record<string, string>): Float64Array | undefined {
  let c: Float64Array | undefined;
  for (const [field, value] of Object.entries(hash)) {
    const slot = SLOT_OF.get(field);
    if (slot === undefined) continue;
    c ??= new Float64Array(SLOTS);
    c[slot] = Number(value);
  }
  return c;
}
