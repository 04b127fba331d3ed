import type { RedisOptions } from 'ioredis';
import type { GatewayEnv } from './env.js';

type RedisEnv = Pick<
  GatewayEnv,
  'REDIS_URL' | 'REDIS_SENTINELS' | 'REDIS_MASTER_NAME' | 'REDIS_PASSWORD' | 'REDIS_SENTINEL_PASSWORD'
>;

/** Commands a caller waits for while Redis is away, before ioredis gives up on them. */
const MAX_RETRIES_PER_REQUEST = 3;

/** A "host:port" list as ioredis's sentinel entries; a missing port is Sentinel's 26379. */
function sentinelList(list: string): Array<{ host: string; port: number }> {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const at = entry.lastIndexOf(':');
      if (at < 0) return { host: entry, port: 26379 };
      return { host: entry.slice(0, at), port: Number(entry.slice(at + 1)) };
    });
}

/**
 * The gateway's Redis connection: one server (REDIS_URL), or the primary that Sentinel names
 * (REDIS_SENTINELS + REDIS_MASTER_NAME), followed through failovers.
 */
export function redisOptions(env: RedisEnv): RedisOptions {
  const auth: RedisOptions = env.REDIS_PASSWORD ? { password: env.REDIS_PASSWORD } : {};
  if (env.REDIS_SENTINELS) {
    return {
      sentinels: sentinelList(env.REDIS_SENTINELS),
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
