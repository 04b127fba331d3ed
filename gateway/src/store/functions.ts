import { FunctionRecord, type Logger } from '@thaw/shared';
import { functionNotFound, isStoreUnavailable, storeUnavailable } from './errors.js';
import { NOW_MS, type RedisAccess, type StoreKeys } from './redis.js';

/**
 * How long the invoke path may use a cached record. Changes arrive by broadcast at once; this
 * bounds the damage of a broadcast that never arrived.
 */
export const CACHE_TTL_MS = 5000;

/**
 * Script lines touching the images a decoded record `old` names (KEYS[2] images, KEYS[3]
 * touched): the record no longer uses them from now on.
 */
const TOUCH_OLD_IMAGES = `for _, d in ipairs({ old.image, old.imageDigest }) do
           if type(d) == 'string' and redis.call('HEXISTS', KEYS[2], d) == 1 then
             redis.call('HSET', KEYS[3], d, ${NOW_MS})
           end
         end`;

export interface FunctionStoreOptions {
  access: RedisAccess;
  keys: StoreKeys;
  log: Logger;
}

/**
 * Function records in a Redis hash (`<prefix>:functions`), with an in-memory cache for the
 * invoke path. Entries are evicted on the removal broadcast, so every gateway sees a delete at
 * once; and the per-function update claim.
 */
export class FunctionStore {
  private readonly cache = new Map<string, { fn: FunctionRecord; at: number }>();
  // Bumped by every eviction: a read that started before one must not refill the cache.
  private generation = 0;
  private readonly access: RedisAccess;
  private readonly keys: StoreKeys;
  private readonly log: Logger;

  constructor(o: FunctionStoreOptions) {
    this.access = o.access;
    this.keys = o.keys;
    this.log = o.log;
  }

  private get redis() {
    return this.access.redis;
  }

  /** Throws STORE_UNAVAILABLE when the connection to Redis is lost (for code that reads Redis by other means). */
  checkReachable(): void {
    if (!this.access.reachable('read')) throw storeUnavailable();
  }

  /**
   * Claims the function for one update, for `ttlMs` (renewed while the update runs, so a
   * gateway that dies mid-update holds it no longer than that). Workers know an instance by
   * function and revision: two updates that both started the next revision would leave one
   * spec stored and the other running, so only the holder of the claim may start one.
   * False when another update holds it.
   */
  claimUpdate(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.access.claim(this.keys.updating(name), owner, ttlMs);
  }

  renewUpdate(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.access.renew(this.keys.updating(name), owner, ttlMs);
  }

  releaseUpdate(name: string, owner: string): Promise<void> {
    return this.access.release(this.keys.updating(name), owner);
  }

  /**
   * The function, from the cache unless `fresh`. The cache is dropped on the changed/removed
   * broadcasts, which reach other gateways a moment after Redis has the change: decisions that
   * must not act on a stale copy (placing, updating, the admin API, storing an async call) read
   * fresh, and fail with STORE_UNAVAILABLE while Redis is down. A cached read outlives
   * CACHE_TTL_MS while Redis is down: the last record this gateway saw is still served (changes
   * cannot be made meanwhile, and a delete broadcast still evicts it).
   */
  async get(name: string, opts: { fresh?: boolean } = {}): Promise<FunctionRecord | undefined> {
    const hit = opts.fresh ? undefined : this.cache.get(name);
    if (hit && Date.now() - hit.at < CACHE_TTL_MS) return hit.fn;
    const gen = this.generation;
    let raw: string | null;
    try {
      raw = await this.access.run('read', () => this.redis.hget(this.keys.functions, name));
    } catch (err) {
      const stale = opts.fresh ? undefined : this.cache.get(name);
      if (stale && isStoreUnavailable(err)) {
        this.log.warn(
          { fn: name, ageMs: Date.now() - stale.at },
          'Redis is unreachable: serving the cached record',
        );
        // Served as cached for another CACHE_TTL_MS: during an outage every call would otherwise
        // try Redis again and log this line (thousands a second on a busy function).
        stale.at = Date.now();
        return stale.fn;
      }
      throw err;
    }
    if (!raw) return undefined;
    const parsed = FunctionRecord.safeParse(JSON.parse(raw));
    if (!parsed.success) {
      this.log.error({ name, issues: parsed.error.issues }, 'stored function record is invalid');
      return undefined;
    }
    if (gen === this.generation) this.cache.set(name, { fn: parsed.data, at: Date.now() });
    return parsed.data;
  }

  /** As `get`, but a missing function is FUNCTION_NOT_FOUND. */
  async require(name: string, opts: { fresh?: boolean } = {}): Promise<FunctionRecord> {
    const fn = await this.get(name, opts);
    if (!fn) throw functionNotFound(name);
    return fn;
  }

  /** False when the name is taken (HSETNX: two gateways cannot both create it). */
  async create(fn: FunctionRecord): Promise<boolean> {
    const created =
      (await this.access.run('write', () =>
        this.redis.hsetnx(this.keys.functions, fn.name, JSON.stringify(fn)),
      )) === 1;
    if (created) this.remember(fn);
    return created;
  }

  /** Replaces a record that still exists (a function deleted meanwhile stays deleted). */
  async update(fn: FunctionRecord): Promise<boolean> {
    const updated = (await this.access.run('write', () =>
      this.redis.eval(
        "if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) + 1 else return 0 end",
        1,
        this.keys.functions,
        fn.name,
        JSON.stringify(fn),
      ),
    )) as number;
    if (updated > 0) this.remember(fn);
    return updated > 0;
  }

  /**
   * Stores `fn` only if the stored record is still revision `expected` (an update racing
   * another update or a delete loses). False when it was not stored. The image the old
   * revision ran is touched: its grace before image GC starts now.
   */
  async replaceRevision(fn: FunctionRecord, expected: number): Promise<boolean> {
    const stored = (await this.access.run('write', () =>
      this.redis.eval(
        `local raw = redis.call('HGET', KEYS[1], ARGV[1])
         if not raw then return 0 end
         local old = cjson.decode(raw)
         local rev = old.revision or 1
         if rev ~= tonumber(ARGV[3]) then return 0 end
         redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
         ${TOUCH_OLD_IMAGES}
         return 1`,
        3,
        this.keys.functions,
        this.keys.images,
        this.keys.touched,
        fn.name,
        JSON.stringify(fn),
        String(expected),
      ),
    )) as number;
    if (stored === 1) this.remember(fn);
    return stored === 1;
  }

  private remember(fn: FunctionRecord): void {
    this.cache.set(fn.name, { fn, at: Date.now() });
  }

  /** Deletes the record; the image it ran is touched, so its grace before image GC starts now. */
  async delete(name: string): Promise<boolean> {
    // Kept in the cache when Redis is down: the function still exists, and this gateway still serves it.
    if (!this.access.reachable('write')) throw storeUnavailable();
    this.evict(name);
    const deleted = (await this.access.run('write', () =>
      this.redis.eval(
        `local raw = redis.call('HGET', KEYS[1], ARGV[1])
         if not raw then return 0 end
         redis.call('HDEL', KEYS[1], ARGV[1])
         local ok, old = pcall(cjson.decode, raw)
         if ok then
           ${TOUCH_OLD_IMAGES}
         end
         return 1`,
        3,
        this.keys.functions,
        this.keys.images,
        this.keys.touched,
        name,
      ),
    )) as number;
    return deleted === 1;
  }

  evict(name: string): void {
    this.generation++;
    this.cache.delete(name);
  }

  /** Drops every cached record: after a NATS reconnect, evictions may have been missed. */
  flush(): void {
    this.generation++;
    this.cache.clear();
  }

  async list(): Promise<FunctionRecord[]> {
    const all = await this.access.run('read', () => this.redis.hvals(this.keys.functions));
    return all
      .map((raw) => FunctionRecord.safeParse(JSON.parse(raw)))
      .flatMap((r) => (r.success ? [r.data] : []))
      .sort((a, b) => a.name.localeCompare(b.name));
  }
}
