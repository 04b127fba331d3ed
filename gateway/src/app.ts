import { type Logger, subjects as makeSubjects } from '@thaw/shared';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { NatsConnection } from 'nats';
import { AsyncCalls } from './async/calls.js';
import { Caller } from './calls/caller.js';
import { Invoker } from './calls/invoker.js';
import { followChanges } from './changes.js';
import { ClusterView } from './cluster/view.js';
import { WorkerClient } from './cluster/worker-client.js';
import type { GatewayEnv } from './env.js';
import { adminRoutes } from './http/admin.js';
import { asyncRoutes } from './http/async.js';
import { adminTokenHash } from './http/auth.js';
import { dashboardRoutes } from './http/dashboard.js';
import { docsRoutes } from './http/docs.js';
import { installErrorHandling } from './http/errors.js';
import { functionRoutes } from './http/functions.js';
import { healthRoutes } from './http/health.js';
import { imageRoutes } from './http/images.js';
import { invokeRoutes } from './http/invoke.js';
import { logRoutes } from './http/logs.js';
import { createServer } from './http/server.js';
import { statsRoutes } from './http/stats.js';
import { startImageGc } from './images/gc.js';
import { lambdaRoutes } from './lambda/routes.js';
import { GatewayMetrics } from './metrics.js';
import { Placer } from './placement/placer.js';
import { bullConnection } from './redis.js';
import { CallStats } from './stats/call-stats.js';
import { openStores } from './store/index.js';
import { Triggers } from './triggers/triggers.js';

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
        | 'THAW_TIMINGS'
        | 'THAW_JS_REPLICAS'
        | 'THAW_ACCESS_KEYS_SECRET'
        | 'REDIS_SENTINELS'
        | 'THAW_DIRECT'
      >
    >;
  logger: Logger;
}

/** Defaults of the optional settings, as env.ts gives them (tests pass only what they need). */
const DEFAULTS = {
  ASYNC_LOCK_MS: 30_000,
  ASYNC_OUTAGE_BUDGET_MS: 300_000,
  IMAGE_GC_GRACE_MS: 3_600_000,
  IMAGE_GC_EVERY_MS: 0,
  THAW_JS_REPLICAS: 1,
} as const;

/** The gateway's fastify app, without listen(): tests use inject(), main.ts listens. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { nc, redis, config, logger: log } = deps;
  const app = createServer(log);
  const subjects = makeSubjects(config.THAW_PREFIX);
  const { functions, images } = openStores({ redis, prefix: config.THAW_PREFIX, log });
  const view = new ClusterView({ nc, subjects, log });
  const caller = new Caller({
    nc,
    liveness: view,
    replaySubject: subjects.replay,
    direct: config.THAW_DIRECT === 'off' ? undefined : view,
  });
  const client = new WorkerClient({ nc, subjects, timeoutMs: config.PLACE_TIMEOUT_MS });
  // The metrics read the async counts only when scraped, once asyncCalls exists.
  const metrics = new GatewayMetrics({ view, asyncCounts: () => asyncCalls.counts(), sends: caller.sends });
  const placer = new Placer({
    view,
    client,
    functions,
    images,
    log,
    onPlaced: (result) => metrics.placements.inc({ result }),
  });
  const stats = new CallStats({ redis, prefix: config.THAW_PREFIX, log });
  // Every path that calls a function (sync, async, schedules, triggers, the Lambda API) is counted.
  const invoke = stats.observe(new Invoker({ caller, placer, subjects }).invoke);
  const current = (name: string) => functions.get(name, { fresh: true });
  const asyncCalls = new AsyncCalls({
    connection: bullConnection(redis.options),
    prefix: config.THAW_PREFIX,
    current,
    invoke,
    log,
    lockMs: config.ASYNC_LOCK_MS ?? DEFAULTS.ASYNC_LOCK_MS,
    allowPrivateCallbacks: config.ASYNC_CALLBACK_PRIVATE === 'allow',
    outageBudgetMs: config.ASYNC_OUTAGE_BUDGET_MS ?? DEFAULTS.ASYNC_OUTAGE_BUDGET_MS,
    replicaAcks: config.REDIS_SENTINELS ? 1 : 0,
  });
  const triggers = new Triggers({ nc, prefix: config.THAW_PREFIX, current, invoke, log });
  const changes = await followChanges({ nc, subjects, functions, asyncCalls, triggers, log });
  const imageGc = startImageGc({
    nc,
    images,
    graceMs: config.IMAGE_GC_GRACE_MS ?? DEFAULTS.IMAGE_GC_GRACE_MS,
    everyMs: config.IMAGE_GC_EVERY_MS ?? DEFAULTS.IMAGE_GC_EVERY_MS,
    replicas: config.THAW_JS_REPLICAS ?? DEFAULTS.THAW_JS_REPLICAS,
    log,
  });
  app.addHook('onClose', async () => {
    imageGc.stop();
    changes.stop();
    await triggers.close();
    await asyncCalls.close();
    await stats.close();
    caller.close();
    view.close();
  });

  installErrorHandling(app);
  const adminHash = await adminTokenHash(
    redis,
    config.THAW_PREFIX,
    config.THAW_ADMIN_TOKEN,
    config.THAW_TOKEN_FILE,
    log,
  );
  adminRoutes(app, { adminHash, view, metrics });
  await app.register(docsRoutes);
  await app.register(dashboardRoutes);
  await app.register(async (scope) => statsRoutes(scope, { stats }));
  healthRoutes(app, nc, redis);
  await app.register(async (scope) =>
    functionRoutes(scope, { nc, subjects, functions, images, placer, view, asyncCalls, log }),
  );
  await app.register(async (scope) => logRoutes(scope, { nc, subjects, functions, view }));
  await app.register(async (scope) =>
    imageRoutes(scope, {
      nc,
      images,
      client,
      maxImageBytes: config.MAX_IMAGE_BYTES,
      replicas: config.THAW_JS_REPLICAS ?? DEFAULTS.THAW_JS_REPLICAS,
      log,
    }),
  );
  const maxBodyBytes = config.MAX_BODY_BYTES;
  // One scope for both invoke paths, as before the split: the invocation metrics hook sees both.
  await app.register(async (scope) => {
    await invokeRoutes(scope, {
      functions,
      adminHash,
      invoke,
      metrics,
      maxBodyBytes,
      timings: config.THAW_TIMINGS === '1',
    });
    await asyncRoutes(scope, { functions, adminHash, asyncCalls, maxBodyBytes });
  });
  // A scope of its own: the invocation metrics count calls of functions, not Lambda API requests.
  await app.register(async (scope) =>
    lambdaRoutes(scope, {
      nc,
      subjects,
      redis,
      prefix: config.THAW_PREFIX,
      functions,
      images,
      placer,
      view,
      asyncCalls,
      invoke,
      maxBodyBytes,
      log,
      ...(config.THAW_ACCESS_KEYS_SECRET ? { keysMasterKey: config.THAW_ACCESS_KEYS_SECRET } : {}),
    }),
  );
  return app;
}
