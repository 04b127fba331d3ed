import { METHODS } from 'node:http';
import { FunctionRemoved, type Logger, subjects as makeSubjects, ThawError } from '@thaw/shared';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Redis } from 'ioredis';
import { JSONCodec, type NatsConnection, type Subscription } from 'nats';
import { AsyncCalls } from './async.js';
import { adminTokenHash, bearer, tokenMatches } from './auth.js';
import { Caller } from './caller.js';
import { Cluster } from './cluster.js';
import type { GatewayEnv } from './env.js';
import {
  clientErrorHandler,
  frameworkErrors,
  installErrorHandling,
  MAX_PARAM_LENGTH,
  parseJsonBody,
} from './errors.js';
import { functionRoutes } from './functions.js';
import { healthRoutes } from './health.js';
import { startImageGc } from './image-gc.js';
import { imageRoutes } from './images.js';
import { invokeFunction, invokeRoutes } from './invoke.js';
import { logRoutes } from './logs.js';
import { GatewayMetrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import { Registry } from './registry.js';
import { Workers } from './workers.js';

export interface AppDeps {
  nc: NatsConnection;
  redis: Redis;
  config: Pick<GatewayEnv, 'THAW_PREFIX' | 'MAX_BODY_BYTES' | 'MAX_IMAGE_BYTES' | 'PLACE_TIMEOUT_MS'> &
    Partial<
      Pick<
        GatewayEnv,
        | 'ASYNC_LOCK_MS'
        | 'ASYNC_OUTAGE_BUDGET_MS'
        | 'THAW_ADMIN_TOKEN'
        | 'THAW_TOKEN_FILE'
        | 'ASYNC_CALLBACK_PRIVATE'
        | 'IMAGE_GC_GRACE_MS'
        | 'IMAGE_GC_EVERY_MS'
      >
    >;
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
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // What Node's HTTP parser and fastify's router refuse is answered in the catalogue's shape too.
    frameworkErrors,
    clientErrorHandler,
  });
  // The API takes JSON only (text/plain included would reach a route as a string); the invoke
  // and image routes set their own parsers.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJsonBody);
  // "ANY" means any: WebDAV and other registered methods (PROPFIND, MKCOL, PURGE...) reach
  // functions too. CONNECT is left out: its target is a host, not a path.
  for (const method of METHODS) {
    if (method !== 'CONNECT' && !app.supportedMethods.includes(method))
      app.addHttpMethod(method, { hasBody: true });
  }
  // An absolute-form target (a request meant for a proxy) has no path of ours to route by.
  app.addHook('onRequest', async (req) => {
    if (!req.raw.url?.startsWith('/')) {
      throw new ThawError(
        'BAD_REQUEST',
        'the request target must be a path such as /fn/<name>/..., not an absolute URL',
      );
    }
  });
  const subjects = makeSubjects(config.THAW_PREFIX);
  const registry = new Registry(redis, config.THAW_PREFIX, logger);
  const cluster = new Cluster(nc, subjects, logger);
  const caller = new Caller(nc, cluster);
  const workers = new Workers(nc, subjects, config.PLACE_TIMEOUT_MS, logger, cluster);
  const { host, port, db, username, password } = redis.options;
  const asyncCalls = new AsyncCalls({
    // BullMQ makes its own connections (a blocking one per consumer), from the same server.
    connection: { host, port, db, username, password, maxRetriesPerRequest: null },
    prefix: config.THAW_PREFIX,
    registry,
    invoke: (fn, env) => invokeFunction({ caller, cluster, subjects, registry, workers }, fn, env),
    log: logger,
    lockMs: config.ASYNC_LOCK_MS ?? 30_000,
    allowPrivateCallbacks: config.ASYNC_CALLBACK_PRIVATE === 'allow',
    outageBudgetMs: config.ASYNC_OUTAGE_BUDGET_MS ?? 300_000,
  });
  const metrics = new GatewayMetrics(cluster, () => asyncCalls.counts());
  workers.metrics = metrics;
  // Every gateway consumes every function's async queue: at start, on changes, and every 10 s.
  const syncAsync = () =>
    registry
      .listFunctions()
      .then((fns) => asyncCalls.sync(fns))
      .catch((err: Error) => logger.warn({ err: err.message }, 'syncing async consumers failed'));
  await syncAsync();
  const asyncTimer = setInterval(syncAsync, 10_000);
  asyncTimer.unref();

  // Another gateway deleted a function: drop our cached copy at once.
  const json = JSONCodec<unknown>();
  const evictions: Subscription[] = [subjects.functionRemoved, subjects.functionChanged].map((subject) =>
    nc.subscribe(subject, {
      callback: (_err, msg) => {
        const parsed = FunctionRemoved.safeParse(json.decode(msg.data));
        if (!parsed.success) return;
        registry.evict(parsed.data.name);
        void syncAsync();
      },
    }),
  );
  // Evictions sent while we were disconnected from NATS are lost: start from Redis again.
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'reconnect') registry.flush();
    }
  })();
  const imageGc = startImageGc({
    nc,
    registry,
    graceMs: config.IMAGE_GC_GRACE_MS ?? 3_600_000,
    everyMs: config.IMAGE_GC_EVERY_MS ?? 0,
    log: logger,
  });
  app.addHook('onClose', async () => {
    imageGc.stop();
    for (const s of evictions) s.unsubscribe();
    clearInterval(asyncTimer);
    await asyncCalls.close();
    caller.close();
    cluster.close();
  });

  installErrorHandling(app);
  // The admin API needs the admin token; invoking is decided per function (invoke.ts).
  const adminHash = await adminTokenHash(
    redis,
    config.THAW_PREFIX,
    config.THAW_ADMIN_TOKEN,
    config.THAW_TOKEN_FILE,
    logger,
  );
  app.addHook('onRequest', async (req) => {
    // The route that matched, not the raw URL: the router decodes "/%761/..." to "/v1/...".
    if (!(req.routeOptions.url ?? '').startsWith('/v1/')) return;
    if (!tokenMatches(bearer(req), adminHash)) {
      throw new ThawError(
        'UNAUTHORIZED',
        bearer(req)
          ? 'the bearer token is not the admin token'
          : 'the admin API needs "Authorization: Bearer <admin token>"',
      );
    }
  });
  app.get('/v1/workers', async () => ({ workers: cluster.list() }));
  const openapi = openApiDocument();
  app.get('/openapi.json', async () => openapi);
  app.get('/metrics', async (_req, reply) =>
    reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  healthRoutes(app, nc, redis);
  await app.register(async (scope) =>
    functionRoutes(scope, { nc, subjects, registry, workers, cluster, asyncCalls, log: logger }),
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
      asyncCalls,
      adminHash,
      maxBodyBytes: config.MAX_BODY_BYTES,
    }),
  );
  return app;
}
