import { type FunctionRecord, ImageRecord, type ImageSource, ThawError } from '@thaw/shared';
import { NOW_MS, type RedisAccess, type StoreKeys } from './redis.js';

export interface ImageStoreOptions {
  access: RedisAccess;
  keys: StoreKeys;
}

/**
 * Uploaded images' records in a Redis hash (`<prefix>:images`), when each was last known in
 * use, and image GC's lock.
 */
export class ImageStore {
  private readonly access: RedisAccess;
  private readonly keys: StoreKeys;

  constructor(o: ImageStoreOptions) {
    this.access = o.access;
    this.keys = o.keys;
  }

  private get redis() {
    return this.access.redis;
  }

  /**
   * Where workers get the function's image from. An uploaded image is touched as it is read, in
   * one step: image GC either deleted it before (IMAGE_NOT_FOUND here) or sees it in use for a
   * grace period, long enough for the create or update that asked to store its record.
   */
  async sourceOf(fn: FunctionRecord): Promise<ImageSource> {
    if (!fn.image.startsWith('sha256:')) return { kind: 'registry', reference: fn.image };
    const raw = (await this.access.run('write', () =>
      this.redis.eval(
        `local raw = redis.call('HGET', KEYS[1], ARGV[1])
         if raw then redis.call('HSET', KEYS[2], ARGV[1], ${NOW_MS}) end
         return raw`,
        2,
        this.keys.images,
        this.keys.touched,
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

  async get(digest: string): Promise<ImageRecord | undefined> {
    const raw = await this.access.run('read', () => this.redis.hget(this.keys.images, digest));
    return raw ? ImageRecord.parse(JSON.parse(raw)) : undefined;
  }

  /**
   * Records an image and touches it (an upload of an image kept already starts its grace
   * again); returns the record that is kept (the earlier one if it existed).
   */
  async put(img: ImageRecord): Promise<{ kept: ImageRecord; created: boolean }> {
    const kept = (await this.access.run('write', () =>
      this.redis.eval(
        `local created = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
         redis.call('HSET', KEYS[2], ARGV[1], ${NOW_MS})
         if created == 1 then return false end
         return redis.call('HGET', KEYS[1], ARGV[1])`,
        2,
        this.keys.images,
        this.keys.touched,
        img.digest,
        JSON.stringify(img),
      ),
    )) as string | null;
    if (!kept) return { kept: img, created: true };
    return { kept: ImageRecord.parse(JSON.parse(kept)), created: false };
  }

  /** Every uploaded image's record. */
  async list(): Promise<ImageRecord[]> {
    const all = await this.access.run('read', () => this.redis.hvals(this.keys.images));
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
  async deleteIfUnused(
    digest: string,
    uploadedAtMs: number,
    graceMs: number,
  ): Promise<ImageRecord | undefined> {
    const raw = (await this.access.run('write', () =>
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
        this.keys.images,
        this.keys.functions,
        this.keys.touched,
        digest,
        String(uploadedAtMs),
        String(graceMs),
      ),
    )) as string | null;
    return raw ? ImageRecord.parse(JSON.parse(raw)) : undefined;
  }

  /** One image GC round at a time across gateways: true when this owner holds the lock now. */
  claimGc(owner: string, ttlMs: number): Promise<boolean> {
    return this.access.claim(this.keys.imageGc, owner, ttlMs);
  }

  releaseGc(owner: string): Promise<void> {
    return this.access.release(this.keys.imageGc, owner);
  }
}
