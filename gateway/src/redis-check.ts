import type { Redis } from 'ioredis';

/**
 * How long the start-up check waits for a first answer. Past it the gateway starts anyway, with
 * the checks skipped: Redis away at start is an outage the stores already answer 503 for, not a
 * configuration mistake.
 */
export const REDIS_CHECK_TIMEOUT_MS = 10_000;

/** The settings BullMQ's production guide asks for, as the server reports them. */
export interface RedisSettings {
  /** INFO memory's maxmemory_policy. */
  maxmemoryPolicy: string;
  /** INFO persistence's aof_enabled. */
  aof: boolean;
}

export type RedisCheck =
  | { ok: true; warnings: string[] }
  /** The gateway must not start: it would lose async calls, or cannot log in at all. */
  | { ok: false; problem: string };

/** Redis refused the credentials; named for the setting that holds them. */
export class RedisAuthError extends Error {
  override readonly name = 'RedisAuthError';
}

/**
 * BullMQ keeps async calls as Redis keys: under any eviction policy but noeviction, a full server
 * drops queued calls without a trace (BullMQ's guide: the only setting that guarantees correct
 * queues), so that refuses the start. Without the append-only file a restarted Redis loses the
 * calls since its last snapshot: a warning, since a replica or snapshots may be the chosen copy.
 */
export function judgeRedisSettings(s: RedisSettings): RedisCheck {
  if (s.maxmemoryPolicy !== 'noeviction') {
    return {
      ok: false,
      problem:
        `Redis's maxmemory-policy is "${s.maxmemoryPolicy}": a full server would evict queued async calls. ` +
        'Set "maxmemory-policy noeviction" in redis.conf (or the managed service\'s parameters); see docs/redis-sentinel.md',
    };
  }
  return {
    ok: true,
    warnings: s.aof
      ? []
      : [
          'Redis runs without its append-only file (appendonly no): a restart loses the async calls ' +
            'accepted since its last snapshot. Set "appendonly yes"; see docs/redis-sentinel.md',
        ],
  };
}

/** One field of an INFO section's "name:value" lines. */
export function infoField(info: string, name: string): string | undefined {
  const line = info.split(/\r?\n/).find((l) => l.startsWith(`${name}:`));
  return line?.slice(name.length + 1).trim();
}

/** What an authentication failure looks like, from a server or relayed by ioredis's sentinel loop. */
function authProblem(message: string, sentinels: boolean): string | undefined {
  if (!/WRONGPASS|NOAUTH|invalid password|AUTH.*(failed|called without)/i.test(message)) return undefined;
  // ioredis relays a sentinel's refusal as "All sentinels are unreachable ... Last error: WRONGPASS".
  const setting =
    sentinels && /sentinels are unreachable/i.test(message) ? 'REDIS_SENTINEL_PASSWORD' : 'REDIS_PASSWORD';
  return `Redis refused the password: check ${setting} (${message})`;
}

/**
 * Waits for Redis to answer, then reads its settings. Throws RedisAuthError when the password
 * is wrong or missing. Resolves to the settings, or to undefined when Redis was not reachable in
 * time or does not let us read INFO (a managed Redis may forbid it, and CONFIG too): the gateway
 * must start all the same; the caller warns.
 */
export async function readRedisSettings(
  redis: Redis,
  timeoutMs = REDIS_CHECK_TIMEOUT_MS,
): Promise<{ settings?: RedisSettings; unread?: string }> {
  const sentinels = Boolean(redis.options.sentinels?.length);
  let onError: ((err: Error) => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    const refused = new Promise<never>((_, reject) => {
      onError = (err) => {
        const problem = authProblem(err.message, sentinels);
        if (problem) reject(new RedisAuthError(problem, { cause: err }));
      };
      redis.on('error', onError);
    });
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs);
    });
    const answered = redis.ping().then(
      () => 'up' as const,
      (err: Error) => {
        const problem = authProblem(err.message, sentinels);
        if (problem) throw new RedisAuthError(problem, { cause: err });
        return 'late' as const;
      },
    );
    // The race's losers may still reject: handled here, not as unhandled rejections.
    answered.catch(() => undefined);
    refused.catch(() => undefined);
    if ((await Promise.race([answered, refused, late])) === 'late') {
      return { unread: `Redis did not answer within ${timeoutMs} ms` };
    }
    const info = await redis.info().catch((err: Error) => err);
    if (info instanceof Error) return { unread: `INFO refused (${info.message})` };
    const policy = infoField(info, 'maxmemory_policy');
    const aof = infoField(info, 'aof_enabled');
    if (policy === undefined || aof === undefined)
      return { unread: 'INFO lacks maxmemory_policy or aof_enabled' };
    return { settings: { maxmemoryPolicy: policy, aof: aof === '1' } };
  } finally {
    clearTimeout(timer);
    if (onError) redis.off('error', onError);
  }
}

interface WarnLog {
  warn(obj: object, msg: string): void;
}

/**
 * The gateway's start-up check: the problem that must stop it (a refused password, an evicting
 * Redis), or undefined once any warnings are logged.
 */
export async function startupRedisProblem(redis: Redis, log: WarnLog): Promise<string | undefined> {
  let read: Awaited<ReturnType<typeof readRedisSettings>>;
  try {
    read = await readRedisSettings(redis);
  } catch (err) {
    if (err instanceof RedisAuthError) return err.message;
    throw err;
  }
  if (!read.settings) {
    log.warn(
      { reason: read.unread },
      "Redis's settings were not checked: make sure maxmemory-policy is noeviction and appendonly is yes",
    );
    return undefined;
  }
  const check = judgeRedisSettings(read.settings);
  if (!check.ok) return check.problem;
  for (const w of check.warnings) log.warn({ settings: read.settings }, w);
  return undefined;
}
