import type { RedisOptions } from 'ioredis';
import type { GatewayEnv } from './env.js';

type RedisEnv = Pick<
  GatewayEnv,
  'REDIS_URL' | 'REDIS_SENTINELS' | 'REDIS_MASTER_NAME' | 'REDIS_PASSWORD' | 'REDIS_SENTINEL_PASSWORD'
>;

/** Commands a caller waits for while Redis is away, before ioredis gives up on them. */
const MAX_RETRIES_PER_REQUEST = 3;

/** Sentinel's own port, for an entry that names none. */
const SENTINEL_PORT = 26379;

/** A bad REDIS_SENTINELS value, with the entry that is wrong. */
export class SentinelListError extends Error {
  override readonly name = 'SentinelListError';
}

function sentinelEntry(entry: string): { host: string; port: number } {
  if (entry.includes('://')) throw new SentinelListError(`"${entry}" is a URL, not host:port`);
  // [v6]:port, [v6], host:port or host. A bare IPv6 address would make the port ambiguous.
  const m = /^\[([0-9a-fA-F:.]+)\](?::(.*))?$/.exec(entry) ?? /^([^:[\]]+)(?::(.*))?$/.exec(entry);
  if (!m?.[1]) {
    throw new SentinelListError(
      `"${entry}" is not host:port (an IPv6 address goes in brackets: [::1]:${SENTINEL_PORT})`,
    );
  }
  const host = m[1];
  if (!/^\[/.test(entry) && !/^[A-Za-z0-9.-]+$/.test(host)) {
    throw new SentinelListError(`"${entry}": "${host}" is not a host name or address`);
  }
  if (m[2] === undefined) return { host, port: SENTINEL_PORT };
  const port = /^\d{1,5}$/.test(m[2]) ? Number(m[2]) : Number.NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new SentinelListError(`"${entry}": the port must be a number from 1 to 65535`);
  }
  return { host, port };
}

/**
 * REDIS_SENTINELS as ioredis's sentinel entries: a comma-separated "host:port" list, a missing
 * port being Sentinel's 26379. Throws SentinelListError naming the bad entry, so a typo stops
 * the start (env.ts) instead of showing up as "all sentinels are unreachable" later.
 */
export function parseSentinels(list: string): Array<{ host: string; port: number }> {
  const entries = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (entries.length === 0)
    throw new SentinelListError('names no sentinel (expected host:port,host:port,...)');
  return entries.map(sentinelEntry);
}

/**
 * The gateway's Redis connection: one server (REDIS_URL), or the primary that Sentinel names
 * (REDIS_SENTINELS + REDIS_MASTER_NAME), followed through failovers.
 */
export function redisOptions(env: RedisEnv): RedisOptions {
  const auth: RedisOptions = env.REDIS_PASSWORD ? { password: env.REDIS_PASSWORD } : {};
  if (env.REDIS_SENTINELS) {
    return {
      sentinels: parseSentinels(env.REDIS_SENTINELS),
      name: env.REDIS_MASTER_NAME,
      ...(env.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: env.REDIS_SENTINEL_PASSWORD } : {}),
      ...auth,
      maxRetriesPerRequest: MAX_RETRIES_PER_REQUEST,
    };
  }
  const url = new URL(env.REDIS_URL);
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    db: Number(url.pathname.slice(1) || 0),
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...auth,
    // rediss:// is Redis over TLS, as ioredis reads it from a URL.
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: MAX_RETRIES_PER_REQUEST,
  };
}

/**
 * BullMQ's connections (it opens its own, a blocking one per consumer) to the same server or
 * sentinels as `redis`. BullMQ needs `maxRetriesPerRequest: null` on them.
 */
export function bullConnection(o: RedisOptions): RedisOptions {
  const { host, port, db, username, password, tls, sentinels, name, sentinelPassword } = o;
  return {
    host,
    port,
    db,
    username,
    password,
    tls,
    sentinels,
    name,
    sentinelPassword,
    maxRetriesPerRequest: null,
  };
}
