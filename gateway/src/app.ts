import { FunctionRemoved, type Logger, subjects as makeSubjects } from '@thaw/shared';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Redis } from 'ioredis';
import { JSONCodec, type NatsConnection, type Subscription } from 'nats';
import { Caller } from './caller.js';
import { Cluster } from './cluster.js';
import type { GatewayEnv } from './env.js';
import { installErrorHandling } from './errors.js';
import { functionRoutes } from './functions.js';
import { imageRoutes } from './images.js';
import { invokeRoutes } from './invoke.js';
import { logRoutes } from './logs.js';
import { GatewayMetrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import { Registry } from './registry.js';
import { Workers } from './workers.js';

export interface AppDeps {
  nc: NatsConnection;
  redis: Redis;
  config: Pick<GatewayEnv, 'THAW_PREFIX' | 'MAX_BODY_BYTES' | 'MAX_IMAGE_BYTES' | 'PLACE_TIMEOUT_MS'>;
  logger: Logger;
}

/** The gateway's fastify app, without listen(): tests use inject(), main.ts listens. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { nc, redis, config, logger } = deps;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // The invoke path is hot: a log line per request costs more than the rest of the gateway.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
  });
  const subjects = makeSubjects(config.THAW_PREFIX);
  const registry = new Registry(redis, config.THAW_PREFIX, logger);
  const cluster = new Cluster(nc, subjects, logger);
  const caller = new Caller(nc, cluster);
  const metrics = new GatewayMetrics(cluster);
  const workers = new Workers(nc, subjects, config.PLACE_TIMEOUT_MS, logger, cluster, metrics);

  // Another gateway deleted a function: drop our cached copy at once.
  const json = JSONCodec<unknown>();
  const evictions: Subscription[] = [subjects.functionRemoved, subjects.functionChanged].map((subject) =>
    nc.subscribe(subject, {
      callback: (_err, msg) => {
        const parsed = FunctionRemoved.safeParse(json.decode(msg.data));
        if (parsed.success) registry.evict(parsed.data.name);
      },
    }),
  );
  app.addHook('onClose', async () => {
    for (const s of evictions) s.unsubscribe();
    caller.close();
    cluster.close();
  });

  installErrorHandling(app);
  app.get('/v1/workers', async () => ({ workers: cluster.list() }));
  const openapi = openApiDocument();
  app.get('/openapi.json', async () => openapi);
  app.get('/metrics', async (_req, reply) =>
    reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  app.get('/healthz', async (_req, reply) => {
    const ok = !nc.isClosed() && redis.status === 'ready';
    return reply.code(ok ? 200 : 503).send({ ok, nats: !nc.isClosed(), redis: redis.status });
  });
  await app.register(async (scope) =>
    functionRoutes(scope, { nc, subjects, registry, workers, cluster, log: logger }),
  );
  await app.register(async (scope) => logRoutes(scope, { nc, subjects, registry, cluster }));
  await app.register(async (scope) =>
    imageRoutes(scope, { nc, registry, workers, maxImageBytes: config.MAX_IMAGE_BYTES, log: logger }),
  );
  await app.register(async (scope) =>
    invokeRoutes(scope, {
      caller,
      cluster,
      subjects,
      registry,
      workers,
      metrics,
      maxBodyBytes: config.MAX_BODY_BYTES,
    }),
  );
  return app;
}
