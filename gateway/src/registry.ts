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
/**
 * How long a read may wait for Redis. ioredis queues commands while it reconnects and gives up
 * only after a few tries (seconds): a caller is better served by a prompt 503 or a stale record.
 */
const READ_TIMEOUT_MS = 1000;
/** Redis's clock in ms, inside a script (one clock for every gateway). */
const NOW_MS = "(function() local t = redis.call('TIME') return t[1] * 1000 + math.floor(t[2] / 1000) end)()";
/**
 * Script lines touching the images a decoded record `old` names (KEYS[2] images, KEYS[3]
 * touched): the record no longer uses them from now on.
 */
const TOUCH_OLD_IMAGES = `for _, d in ipairs({ old.image, old.imageDigest }) do
           if type(d) == 'string' and redis.call('HEXISTS', KEYS[2], d) == 1 then
             redis.call('HSET', KEYS[3], d, ${NOW_MS})
           end
         end`;

/** Redis is unreachable: a 503 the client may retry, never a 500. */
export function storeUnavailable(cause?: unknown): ThawError {
  return new ThawError(
    'STORE_UNAVAILABLE',
    'the gateway cannot reach its store (Redis) right now; try again in a few seconds',
    { cause },
  );
}

/** A Redis failure that says the server is unreachable or not serving, not that the command was wrong. */
function unreachable(err: unknown): boolean {
  if (err instanceof ThawError) return false;
  const e = err as { name?: string; message?: string };
  if (e.name !== 'ReplyError') return true;
  // Replies a restarting or stalled server gives to any command.
  return /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN)/.test(e.message ?? '');
}

export class Registry {
  private readonly cache = new Map<string, { fn: FunctionRecord; at: number }>();
  // Bumped by every eviction: a read that started before one must not refill the cache.
  private generation = 0;
  private everReady = false;
  private readonly fnKey: string;
  private readonly imgKey: string;
  /** When each uploaded image was last known in use (ms, Redis's clock): image GC's grace runs from there. */
  private readonly touchedKey: string;
  private readonly gcKey: string;
  private readonly prefix: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly log: Logger,
  ) {
    this.fnKey = `${prefix}:functions`;
    this.imgKey = `${prefix}:images`;
    this.touchedKey = `${prefix}:images:touched`;
    this.gcKey = `${prefix}:images:gc`;
    this.prefix = prefix;
  }

  /**
   * Runs `op` against Redis, or throws STORE_UNAVAILABLE. A write is sent only on a ready
   * connection: queued while ioredis reconnects, it could run long after its caller was told it
   * failed. A read may wait for the first connection (at start) but at most READ_TIMEOUT_MS.
   */
  private async store<T>(kind: 'read' | 'write', op: () => Promise<T>): Promise<T> {
    if (!this.reachable(kind)) throw storeUnavailable();
    let timer: NodeJS.Timeout | undefined;
    try {
      if (kind === 'write') return await op();
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(storeUnavailable()), READ_TIMEOUT_MS);
      });
      return await Promise.race([op(), timeout]);
    } catch (err) {
      throw unreachable(err) ? storeUnavailable(err) : err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Throws STORE_UNAVAILABLE when the connection to Redis is lost (for code that reads Redis by other means). */
  checkReachable(): void {
    if (!this.reachable('read')) throw storeUnavailable();
  }

  /**
   * Whether to send a command now. Reads before the first connection is ready (at start) wait
   * in ioredis's queue; once it has been ready, anything but ready means Redis was lost.
   */
  private reachable(kind: 'read' | 'write'): boolean {
    if (this.redis.status === 'ready') {
      this.everReady = true;
      return true;
    }
    return kind === 'read' && !this.everReady;
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
    return (
      (await this.store('write', () => this.redis.set(this.updateKey(name), owner, 'PX', ttlMs, 'NX'))) ===
      'OK'
    );
  }

  /** Extends a claim this owner still holds; false when it has expired or another holds it. */
  async renewUpdate(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const renewed = (await this.store('write', () =>
      this.redis.eval(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end",
        1,
        this.updateKey(name),
        owner,
        String(ttlMs),
      ),
    )) as number;
    return renewed === 1;
  }

  /** Gives a claim back (only this owner's: an expired one may be another update's now). */
  async releaseUpdate(name: string, owner: string): Promise<void> {
    await this.store('write', () =>
      this.redis.eval(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
        1,
        this.updateKey(name),
        owner,
      ),
    );
  }

  /**
   * The function, from the cache unless `fresh`. The cache is dropped on the changed/removed
   * broadcasts, which reach other gateways a moment after Redis has the change: decisions that
   * must not act on a stale copy (placing, updating, the admin API, storing an async call) read
   * fresh, and fail with STORE_UNAVAILABLE while Redis is down. A cached read outlives
   * CACHE_TTL_MS while Redis is down: the last record this gateway saw is still served (changes
   * cannot be made meanwhile, and a delete broadcast still evicts it).
   */
  async getFunction(name: string, opts: { fresh?: boolean } = {}): Promise<FunctionRecord | undefined> {
    const hit = opts.fresh ? undefined : this.cache.get(name);
    if (hit && Date.now() - hit.at < CACHE_TTL_MS) return hit.fn;
    const gen = this.generation;
    let raw: string | null;
    try {
      raw = await this.store('read', () => this.redis.hget(this.fnKey, name));
    } catch (err) {
      const stale = opts.fresh ? undefined : this.cache.get(name);
      if (stale && err instanceof ThawError && err.code === 'STORE_UNAVAILABLE') {
        this.log.warn(
          { fn: name, ageMs: Date.now() - stale.at },
          'Redis is unreachable: serving the cached record',
        );
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

  /** False when the name is taken (HSETNX: two gateways cannot both create it). */
  async createFunction(fn: FunctionRecord): Promise<boolean> {
    const created =
      (await this.store('write', () => this.redis.hsetnx(this.fnKey, fn.name, JSON.stringify(fn)))) === 1;
    if (created) this.remember(fn);
    return created;
  }

  /** Replaces a record that still exists (a function deleted meanwhile stays deleted). */
  async updateFunction(fn: FunctionRecord): Promise<boolean> {
    const updated = (await this.store('write', () =>
      this.redis.eval(
        "if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) + 1 else return 0 end",
        1,
        this.fnKey,
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
    const stored = (await this.store('write', () =>
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
        this.fnKey,
        this.imgKey,
        this.touchedKey,
        fn.name,
        JSON.stringify(fn),
        String(expected),
      ),
    )) as number;
    if (stored === 1) this.remember(fn);
    return stored === 1;
  }

  /**
   * Where workers get the function's image from. An uploaded image is touched as it is read, in
   * one step: image GC either deleted it before (IMAGE_NOT_FOUND here) or sees it in use for a
   * grace period, long enough for the create or update that asked to store its record.
   */
  async imageSource(fn: FunctionRecord): Promise<ImageSource> {
    if (!fn.image.startsWith('sha256:')) return { kind: 'registry', reference: fn.image };
    const raw = (await this.store('write', () =>
      this.redis.eval(
        `local raw = redis.call('HGET', KEYS[1], ARGV[1])
         if raw then redis.call('HSET', KEYS[2], ARGV[1], ${NOW_MS}) end
         return raw`,
        2,
        this.imgKey,
        this.touchedKey,
        fn.image,
      ),
    )) as string | null;
    const record = raw ? ImageRecord.parse(JSON.parse(raw)) : undefined;
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

  /** Deletes the record; the image it ran is touched, so its grace before image GC starts now. */
  async deleteFunction(name: string): Promise<boolean> {
    // Kept in the cache when Redis is down: the function still exists, and this gateway still serves it.
    if (!this.reachable('write')) throw storeUnavailable();
    this.evict(name);
    const deleted = (await this.store('write', () =>
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
        this.fnKey,
        this.imgKey,
        this.touchedKey,
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

  async listFunctions(): Promise<FunctionRecord[]> {
    const all = await this.store('read', () => this.redis.hvals(this.fnKey));
    return all
      .map((raw) => FunctionRecord.safeParse(JSON.parse(raw)))
      .flatMap((r) => (r.success ? [r.data] : []))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async getImage(digest: string): Promise<ImageRecord | undefined> {
    const raw = await this.store('read', () => this.redis.hget(this.imgKey, digest));
    return raw ? ImageRecord.parse(JSON.parse(raw)) : undefined;
  }

  /**
   * Records an image and touches it (an upload of an image kept already starts its grace
   * again); returns the record that is kept (the earlier one if it existed).
   */
  async putImage(img: ImageRecord): Promise<{ kept: ImageRecord; created: boolean }> {
    const kept = (await this.store('write', () =>
      this.redis.eval(
        `local created = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
         redis.call('HSET', KEYS[2], ARGV[1], ${NOW_MS})
         if created == 1 then return false end
         return redis.call('HGET', KEYS[1], ARGV[1])`,
        2,
        this.imgKey,
        this.touchedKey,
        img.digest,
        JSON.stringify(img),
      ),
    )) as string | null;
    if (!kept) return { kept: img, created: true };
    return { kept: ImageRecord.parse(JSON.parse(kept)), created: false };
  }

  /** Every uploaded image's record. */
  async listImages(): Promise<ImageRecord[]> {
    const all = await this.store('read', () => this.redis.hvals(this.imgKey));
    return all
      .map((raw) => ImageRecord.safeParse(JSON.parse(raw)))
      .flatMap((r) => (r.success ? [r.data] : []));
  }

  /**
   * Deletes an image's record if no function's record names it and it was last touched (or,
   * never touched, uploaded at `uploadedAtMs`) more than `graceMs` ago, by Redis's clock.
   * One script, so a create or update that touches the image runs wholly before or after it.
   * Returns the deleted record, whose object the caller removes.
   */
  async deleteImageIfUnused(
    digest: string,
    uploadedAtMs: number,
    graceMs: number,
  ): Promise<ImageRecord | undefined> {
    const raw = (await this.store('write', () =>
      this.redis.eval(
        `local raw = redis.call('HGET', KEYS[1], ARGV[1])
         if not raw then return false end
         local since = tonumber(redis.call('HGET', KEYS[3], ARGV[1])) or tonumber(ARGV[2])
         if since + tonumber(ARGV[3]) > ${NOW_MS} then return false end
         for _, f in ipairs(redis.call('HVALS', KEYS[2])) do
           local ok, fn = pcall(cjson.decode, f)
           -- A record that cannot be read might name it: keep the image.
           if not ok then return false end
           if fn.image == ARGV[1] or fn.imageDigest == ARGV[1] then return false end
         end
         redis.call('HDEL', KEYS[1], ARGV[1])
         redis.call('HDEL', KEYS[3], ARGV[1])
         return raw`,
        3,
        this.imgKey,
        this.fnKey,
        this.touchedKey,
        digest,
        String(uploadedAtMs),
        String(graceMs),
      ),
    )) as string | null;
    return raw ? ImageRecord.parse(JSON.parse(raw)) : undefined;
  }

  /** One image GC round at a time across gateways: true when this owner holds the lock now. */
  async claimImageGc(owner: string, ttlMs: number): Promise<boolean> {
    return (await this.store('write', () => this.redis.set(this.gcKey, owner, 'PX', ttlMs, 'NX'))) === 'OK';
  }

  async releaseImageGc(owner: string): Promise<void> {
    await this.store('write', () =>
      this.redis.eval(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
        1,
        this.gcKey,
        owner,
      ),
    );
  }
}
