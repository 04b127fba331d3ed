import { ThawError } from '@thaw/shared';
import type { Redis } from 'ioredis';
import { storeUnavailable } from './errors.js';

/**
 * How long a read may wait for Redis. ioredis queues commands while it reconnects and gives up
 * only after a few tries (seconds): a caller is better served by a prompt 503 or a stale record.
 */
export const READ_TIMEOUT_MS = 1000;

/** Redis's clock in ms, inside a script (one clock for every gateway). */
export const NOW_MS =
  "(function() local t = redis.call('TIME') return t[1] * 1000 + math.floor(t[2] / 1000) end)()";

/** Deletes KEYS[1] only while it holds ARGV[1]: a lock given back by its owner alone. */
const RELEASE_OWNED =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
/** Extends KEYS[1] to ARGV[2] ms only while it holds ARGV[1]. */
const RENEW_OWNED =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

/** A Redis failure that says the server is unreachable or not serving, not that the command was wrong. */
function unreachable(err: unknown): boolean {
  if (err instanceof ThawError) return false;
  const e = err as { name?: string; message?: string };
  if (e.name !== 'ReplyError') return true;
  // Replies a restarting or stalled server gives to any command.
  return /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN)/.test(e.message ?? '');
}

/**
 * The one way the stores talk to Redis: commands fail with STORE_UNAVAILABLE (a 503) when
 * Redis is lost, instead of waiting in ioredis's queue; and owned locks (SET NX PX).
 */
export class RedisAccess {
  private everReady = false;

  constructor(readonly redis: Redis) {}

  /**
   * Runs `op` against Redis, or throws STORE_UNAVAILABLE. A write is sent only on a ready
   * connection: queued while ioredis reconnects, it could run long after its caller was told it
   * failed. A read may wait for the first connection (at start) but at most READ_TIMEOUT_MS.
   */
  async run<T>(kind: 'read' | 'write', op: () => Promise<T>): Promise<T> {
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

  /**
   * Whether to send a command now. Reads before the first connection is ready (at start) wait
   * in ioredis's queue; once it has been ready, anything but ready means Redis was lost.
   */
  reachable(kind: 'read' | 'write'): boolean {
    if (this.redis.status === 'ready') {
      this.everReady = true;
      return true;
    }
    return kind === 'read' && !this.everReady;
  }

  /** Takes the lock `key` for `owner` for `ttlMs`; false when another owner holds it. */
  async claim(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.run('write', () => this.redis.set(key, owner, 'PX', ttlMs, 'NX'))) === 'OK';
  }

  /** Extends a lock this owner still holds; false when it has expired or another holds it. */
  async renew(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const renewed = (await this.run('write', () =>
      this.redis.eval(RENEW_OWNED, 1, key, owner, String(ttlMs)),
    )) as number;
    return renewed === 1;
  }

  /** Gives a lock back (only this owner's: an expired one may be another's now). */
  async release(key: string, owner: string): Promise<void> {
    await this.run('write', () => this.redis.eval(RELEASE_OWNED, 1, key, owner));
  }
}

/** The Redis keys of one installation. */
export function storeKeys(prefix: string) {
  return {
    functions: `${prefix}:functions`,
    images: `${prefix}:images`,
    /** When each uploaded image was last known in use (ms, Redis's clock): image GC's grace runs from there. */
    touched: `${prefix}:images:touched`,
    imageGc: `${prefix}:images:gc`,
    updating: (name: string) => `${prefix}:updating:${name}`,
  } as const;
}
export type StoreKeys = ReturnType<typeof storeKeys>;
