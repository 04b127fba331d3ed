import { FunctionRecord, ImageRecord, type ImageSource, type Logger, ThawError } from '@thaw/shared';
import type { Redis } from 'ioredis';

/**
 * Functions and images in Redis hashes (`<prefix>:functions`, `<prefix>:images`), with an
 * in-memory cache of functions for the invoke path. Entries are evicted on the removal
 * broadcast, so every gateway sees a delete at once.
 */
/**
 * How long the invoke path may use a cached record. Changes arrive by broadcast at once; this
 * bounds the damage of a broadcast that never arrived.
 */
const CACHE_TTL_MS = 5000;

export class Registry {
  private readonly cache = new Map<string, { fn: FunctionRecord; at: number }>();
  // Bumped by every eviction: a read that started before one must not refill the cache.
  private generation = 0;
  private readonly fnKey: string;
  private readonly imgKey: string;
  private readonly prefix: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly log: Logger,
  ) {
    this.fnKey = `${prefix}:functions`;
    this.imgKey = `${prefix}:images`;
    this.prefix = prefix;
  }

  private updateKey(name: string): string {
    return `${this.prefix}:updating:${name}`;
  }

  /**
   * Claims the function for one update, for `ttlMs` (renewed while the update runs, so a
   * gateway that dies mid-update holds it no longer than that). Workers know an instance by
   * function and revision: two updates that both started the next revision would leave one
   * spec stored and the other running, so only the holder of the claim may start one.
   * False when another update holds it.
   */
  async claimUpdate(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.updateKey(name), owner, 'PX', ttlMs, 'NX')) === 'OK';
  }

  /** Extends a claim this owner still holds; false when it has expired or another holds it. */
  async renewUpdate(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const renewed = (await this.redis.eval(
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end",
      1,
      this.updateKey(name),
      owner,
      String(ttlMs),
    )) as number;
    return renewed === 1;
  }

  /** Gives a claim back (only this owner's: an expired one may be another update's now). */
  async releaseUpdate(name: string, owner: string): Promise<void> {
    await this.redis.eval(
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
      1,
      this.updateKey(name),
      owner,
    );
  }

  /**
   * The function, from the cache unless `fresh`. The cache is dropped on the changed/removed
   * broadcasts, which reach other gateways a moment after Redis has the change: decisions that
   * must not act on a stale copy (placing, updating) read fresh.
   */
  async getFunction(name: string, opts: { fresh?: boolean } = {}): Promise<FunctionRecord | undefined> {
    const hit = opts.fresh ? undefined : this.cache.get(name);
    if (hit && Date.now() - hit.at < CACHE_TTL_MS) return hit.fn;
    const gen = this.generation;
    const raw = await this.redis.hget(this.fnKey, name);
    if (!raw) return undefined;
    const parsed = FunctionRecord.safeParse(JSON.parse(raw));
    if (!parsed.success) {
      this.log.error({ name, issues: parsed.error.issues }, 'stored function record is invalid');
      return undefined;
    }
    if (gen === this.generation) this.cache.set(name, { fn: parsed.data, at: Date.now() });
    return parsed.data;
  }

  /** False when the name is taken (HSETNX: two gateways cannot both create it). */
  async createFunction(fn: FunctionRecord): Promise<boolean> {
    const created = (await this.redis.hsetnx(this.fnKey, fn.name, JSON.stringify(fn))) === 1;
    if (created) this.remember(fn);
    return created;
  }

  /** Replaces a record that still exists (a function deleted meanwhile stays deleted). */
  async updateFunction(fn: FunctionRecord): Promise<boolean> {
    const updated = (await this.redis.eval(
      "if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) + 1 else return 0 end",
      1,
      this.fnKey,
      fn.name,
      JSON.stringify(fn),
    )) as number;
    if (updated > 0) this.remember(fn);
    return updated > 0;
  }

  /**
   * Stores `fn` only if the stored record is still revision `expected` (an update racing
   * another update or a delete loses). False when it was not stored.
   */
  async replaceRevision(fn: FunctionRecord, expected: number): Promise<boolean> {
    const stored = (await this.redis.eval(
      `local raw = redis.call('HGET', KEYS[1], ARGV[1])
       if not raw then return 0 end
       local rev = cjson.decode(raw).revision or 1
       if rev ~= tonumber(ARGV[3]) then return 0 end
       redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
       return 1`,
      1,
      this.fnKey,
      fn.name,
      JSON.stringify(fn),
      String(expected),
    )) as number;
    if (stored === 1) this.remember(fn);
    return stored === 1;
  }

  /** Where workers get the function's image from. */
  async imageSource(fn: FunctionRecord): Promise<ImageSource> {
    if (!fn.image.startsWith('sha256:')) return { kind: 'registry', reference: fn.image };
    const record = await this.getImage(fn.image);
    if (!record) {
      throw new ThawError(
        'IMAGE_NOT_FOUND',
        `no image ${fn.image} was uploaded; upload it to POST /v1/images first`,
      );
    }
    return { kind: 'upload', record };
  }

  private remember(fn: FunctionRecord): void {
    this.cache.set(fn.name, { fn, at: Date.now() });
  }

  async deleteFunction(name: string): Promise<boolean> {
    this.evict(name);
    return (await this.redis.hdel(this.fnKey, name)) === 1;
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

  async listFunctions(): Promise<FunctionRecord[]> {
    const all = await this.redis.hvals(this.fnKey);
    return all
      .map((raw) => FunctionRecord.safeParse(JSON.parse(raw)))
      .flatMap((r) => (r.success ? [r.data] : []))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async getImage(digest: string): Promise<ImageRecord | undefined> {
    const raw = await this.redis.hget(this.imgKey, digest);
    return raw ? ImageRecord.parse(JSON.parse(raw)) : undefined;
  }

  /** Records an image; returns the record that is kept (the earlier one if it existed). */
  async putImage(img: ImageRecord): Promise<{ kept: ImageRecord; created: boolean }> {
    const created = (await this.redis.hsetnx(this.imgKey, img.digest, JSON.stringify(img))) === 1;
    if (created) return { kept: img, created };
    return { kept: (await this.getImage(img.digest)) ?? img, created };
  }
}
