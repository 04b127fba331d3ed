import type { Redis } from 'ioredis';
import { RedisAccess } from '../store/redis.js';
import { CALLS, COLD, ERRORS, FIRST_BIN, SLOTS } from './histogram.js';
import type { Pending } from './recorder.js';

/** The hash field of each slot: c(alls), e(rrors), k (cold), then the bins b0, b1, ... */
const FIELDS: string[] = Array.from({ length: SLOTS }, (_, i) =>
  i === CALLS ? 'c' : i === ERRORS ? 'e' : i === COLD ? 'k' : `b${i - FIRST_BIN}`,
);
const SLOT_OF = new Map(FIELDS.map((f, i) => [f, i]));

/**
 * Applies one flush batch at most once. KEYS: the batch's mark, the function index, then one
 * hash per function per bucket. ARGV: the mark's TTL (s), the hashes' TTL (s), the index's
 * cutoff (epoch ms), then per hash: bucket start, function, field count, field/value pairs.
 * The mark is set first: a batch resent (ioredis after a reconnect) or retried (after an
 * unclear failure) finds it and changes nothing. A command failing on one hash (a key of
 * another type) skips that hash alone and is counted in the reply: retrying the batch would
 * add the others twice.
 */
const APPLY_BATCH = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return -1 end
local failed = 0
local a = 4
for k = 3, #KEYS do
  local t, name, n = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  a = a + 3
  for j = 1, n do
    local r = redis.pcall('HINCRBY', KEYS[k], ARGV[a], ARGV[a + 1])
    if type(r) == 'table' and r.err then failed = failed + 1 end
    a = a + 2
  end
  redis.pcall('EXPIRE', KEYS[k], ARGV[2])
  redis.call('ZADD', KEYS[2], 'GT', t, name)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
return failed
`;

/** One flush's counters and the id that makes writing them idempotent. */
export interface Batch {
  id: string;
  pending: Pending;
}

/** What a batch's write did: already applied before (a retry), and hash fields Redis refused. */
export interface Applied {
  already: boolean;
  refused: number;
}

export interface StatsStoreOptions {
  redis: Redis;
  prefix: string;
  /** How long a bucket's hash (and a function in the index) is kept. */
  retentionMs: number;
  /** How long a batch's mark is kept: longer than a batch is retried. */
  markMs: number;
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
   * Adds a batch's counters, in one script that applies a batch id once (APPLY_BATCH): a batch
   * whose write failed in any way is retried as is. Throws when Redis is not reachable.
   */
  async add(batch: Batch, now: number): Promise<Applied> {
    const keys = [`${this.o.prefix}:stats:flush:${batch.id}`, this.index];
    const args: (string | number)[] = [
      Math.ceil(this.o.markMs / 1000),
      Math.ceil(this.o.retentionMs / 1000),
      now - this.o.retentionMs,
    ];
    for (const [t, fns] of batch.pending) {
      for (const [name, c] of fns) {
        keys.push(this.key(t, name));
        const at = args.length + 2;
        args.push(t, name, 0);
        let n = 0;
        for (let i = 0; i < SLOTS; i++) {
          const v = c[i] ?? 0;
          if (v === 0) continue;
          args.push(FIELDS[i] as string, v);
          n++;
        }
        args[at] = n;
      }
    }
    const reply = (await this.access.run('write', () =>
      // One array, not spread: a batch of many functions has more arguments than a call takes.
      this.o.redis.eval(APPLY_BATCH, keys.length, keys.concat(args.map(String))),
    )) as number;
    return { already: reply === -1, refused: Math.max(0, reply) };
  }

  /**
   * The counters of `names`, or else of the `most` functions called last, among those seen
   * within the retention, for each bucket from `from` to `last` (bucket starts, epoch ms);
   * undefined for a bucket with no call.
   */
  async read(o: {
    names: string[] | undefined;
    most: number;
    from: number;
    last: number;
    bucketMs: number;
    now: number;
  }): Promise<Map<string, (Float64Array | undefined)[]>> {
    const oldest = o.now - this.o.retentionMs;
    const wanted = (o.names ? await this.known(o.names, oldest) : await this.latest(o.most, oldest)).sort();
    const out = new Map<string, (Float64Array | undefined)[]>();
    if (wanted.length === 0) return out;
    const p = this.o.redis.pipeline();
    for (const name of wanted)
      for (let t = o.from; t <= o.last; t += o.bucketMs) p.hgetall(this.key(t, name));
    const results = (await this.access.run('read', () => p.exec())) ?? [];
    let i = 0;
    for (const name of wanted) {
      const series: (Float64Array | undefined)[] = [];
      for (let t = o.from; t <= o.last; t += o.bucketMs) {
        const [err, hash] = results[i++] ?? [new Error('missing reply')];
        // A key of another type (not written here) reads as no figures, not as a failed answer.
        if (err && (err as Error).name !== 'ReplyError') throw err;
        series.push(err ? undefined : parse(hash as Record<string, string>));
      }
      out.set(name, series);
    }
    return out;
  }

  /** Those of `names` called since `oldest`. */
  private async known(names: string[], oldest: number): Promise<string[]> {
    if (names.length === 0) return [];
    const scores = await this.access.run('read', () => this.o.redis.zmscore(this.index, ...names));
    return names.filter((_, i) => scores[i] !== null && Number(scores[i]) >= oldest);
  }

  /** The `most` functions called last, since `oldest`. */
  private latest(most: number, oldest: number): Promise<string[]> {
    return this.access.run('read', () =>
      this.o.redis.zrevrangebyscore(this.index, '+inf', oldest, 'LIMIT', 0, most),
    );
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
