/**
 * A gateway app built in-process on a real nats-server and redis-server of its own, as most
 * gateway tests need it: the app, its connections, its prefix and admin token, a request helper
 * that sends the admin token, and a close that removes what it made.
 */
import { type Service, startNats, startRedis } from '@thaw/devkit';
import { createLogger } from '@thaw/shared';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import { connect, type NatsConnection } from 'nats';
import { buildApp } from '../src/index.js';

export const TEST_ADMIN = 'thaw_test_admin_token_0123456789';

export interface TestApp {
  app: FastifyInstance;
  nc: NatsConnection;
  redis: Redis;
  /** NATS subject and Redis key prefix of this app (its THAW_PREFIX). */
  prefix: string;
  /** A request with the admin token (unless it sets its own authorization). */
  inject(o: InjectOptions): Promise<LightMyRequestResponse>;
  /** The app, the connections and both servers; its Redis keys go too. */
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** Short tag for the prefix and the logger name: the process id is added. */
  tag: string;
  placeTimeoutMs?: number;
}

export async function openTestApp({ tag, placeTimeoutMs = 2000 }: TestAppOptions): Promise<TestApp> {
  const prefix = `${tag}${process.pid}`;
  let nats: Service | undefined;
  let redisSrv: Service | undefined;
  let nc: NatsConnection | undefined;
  let redis: Redis | undefined;
  let app: FastifyInstance | undefined;
  const close = async () => {
    await app?.close();
    await nc?.close();
    if (redis) {
      const keys = await redis.keys(`${prefix}:*`).catch(() => []);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
    await Promise.all([nats?.close(), redisSrv?.close()]);
  };
  try {
    [nats, redisSrv] = await Promise.all([startNats(), startRedis()]);
    nc = await connect({ servers: nats.url });
    redis = new Redis(redisSrv.url);
    app = await buildAppFor({ nc, redis, prefix, tag, placeTimeoutMs });
  } catch (err) {
    await close();
    throw err;
  }
  const built = app;
  return {
    app: built,
    nc,
    redis,
    prefix,
    inject: (o) =>
      built.inject({ ...o, headers: { authorization: `Bearer ${TEST_ADMIN}`, ...(o.headers ?? {}) } }),
    close,
  };
}

async function buildAppFor(o: {
  nc: NatsConnection;
  redis: Redis;
  prefix: string;
  tag: string;
  placeTimeoutMs: number;
}): Promise<FastifyInstance> {
  const app = await buildApp({
    nc: o.nc,
    redis: o.redis,
    logger: createLogger(`gateway-test-${o.tag}`, 'silent'),
    config: {
      THAW_PREFIX: o.prefix,
      MAX_BODY_BYTES: 64 * 1024,
      MAX_IMAGE_BYTES: 1024 * 1024,
      PLACE_TIMEOUT_MS: o.placeTimeoutMs,
      THAW_ADMIN_TOKEN: TEST_ADMIN,
    },
  });
  await app.ready();
  return app;
}
