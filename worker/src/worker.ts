import { join } from 'node:path';
import { bridgeAddress, ImageStore, Runtime } from '@thaw/runtime';
import { createLogger, natsConnectOptions, natsConnectProblem, subjects } from '@thaw/shared';
import { connect } from 'nats';
import { addressTowardNats } from './direct/address.js';
import { directLink, type WorkerEnv } from './env.js';
import { ImageFetcher } from './images/fetcher.js';
import { RuntimeApi } from './lambda/api.js';
import { MemoryBudget } from './memory/budget.js';
import { Evictor } from './memory/evictor.js';
import { WorkerMetrics } from './metrics/metrics.js';
import { Semaphore } from './pool/semaphore.js';
import { FunctionTable } from './service/functions.js';
import { WorkerService } from './service/service.js';
import { NATS_DRAIN_TIMEOUT_MS } from './timings.js';

export interface RunningWorker {
  readonly id: string;
  readonly service: WorkerService;
  readonly runtime: Runtime;
  /** Where GET /metrics is served (Prometheus text format). */
  readonly metricsUrl: string;
  /** Idempotent: drains NATS, removes every instance, the bridge and the cgroup parent. */
  close(): Promise<void>;
}

export async function startWorker(env: WorkerEnv): Promise<RunningWorker> {
  const log = createLogger('worker', env.LOG_LEVEL).child({ worker: env.WORKER_ID });
  // Found before anything is made: a failure here has nothing to undo.
  const link = directLink(env);
  if (link.why) log.warn(link.why);
  const direct = link.on
    ? {
        host: env.THAW_DIRECT_HOST ?? (await addressTowardNats(env.NATS_URL)),
        port: env.THAW_DIRECT_PORT,
      }
    : undefined;
  const { runtime, reclaimed } = await Runtime.open({
    stateDir: env.THAW_STATE_DIR,
    runDir: env.THAW_RUN_DIR,
    cgroupParent: env.THAW_CGROUP_PARENT,
    bridge: env.THAW_BRIDGE,
    subnet: env.THAW_SUBNET,
    egress: env.THAW_EGRESS,
    hostPorts: [env.THAW_LAMBDA_API_PORT],
  });
  // Listens once the bridge exists (the first lambda instance's start): see factory.ts.
  const lambdaApi = new RuntimeApi({
    host: bridgeAddress(env.THAW_SUBNET),
    port: env.THAW_LAMBDA_API_PORT,
    region: env.THAW_LAMBDA_REGION,
  });
  if (reclaimed.length) log.warn({ reclaimed }, 'removed containers left by an earlier run');
  const nc = await connect(natsConnectOptions(env, env.WORKER_ID)).catch(async (err: unknown) => {
    await runtime.close();
    throw new Error(natsConnectProblem(err, env), { cause: err });
  });
  const images = new ImageFetcher({
    js: nc.jetstream(),
    store: new ImageStore(join(env.THAW_STATE_DIR, 'images')),
    pullOptions: {
      insecureRegistries: env.THAW_INSECURE_REGISTRIES,
      credentials: (registry) => env.THAW_REGISTRY_AUTH[registry],
    },
    allowPrivateRegistries: env.THAW_REGISTRY_PRIVATE === 'allow',
  });
  // Made first and read by the evictor and the metrics; the service fills it.
  const functions = new FunctionTable();
  const memory = new MemoryBudget({
    budgetMiB: env.THAW_MEMORY_MIB,
    evictor: new Evictor({ pools: () => functions.pools(), log }),
  });
  const metrics = new WorkerMetrics({
    memory: () => ({ budgetMiB: memory.budgetMiB, committedMiB: memory.committedMiB }),
    functions: () => functions.gauges(),
  });
  const service = new WorkerService({
    workerId: env.WORKER_ID,
    nc,
    subjects: subjects(env.THAW_PREFIX),
    runtime,
    images,
    host: {
      freezeAfterMs: env.FREEZE_AFTER_MS,
      startTimeoutMs: env.START_TIMEOUT_MS,
      memory,
      starts: new Semaphore(env.START_CONCURRENCY),
      metrics,
      lambdaApi,
    },
    table: functions,
    log,
    heartbeatMs: env.HEARTBEAT_MS,
    direct,
  });
  const served = await metrics
    .serve(env.THAW_METRICS_PORT, env.THAW_METRICS_HOST)
    .catch(async (err: unknown) => {
      await nc.close();
      await runtime.close();
      throw new Error(
        `cannot serve metrics on ${env.THAW_METRICS_HOST}:${env.THAW_METRICS_PORT}: ${(err as Error).message}`,
      );
    });
  await service.listenDirect().catch(async (err: unknown) => {
    served.server.close();
    await nc.close();
    await runtime.close();
    throw new Error(
      `cannot serve the direct link on ${direct?.host}:${direct?.port}: ${(err as Error).message}`,
    );
  });
  service.start();
  await nc.flush();
  log.info({ nats: env.NATS_URL, cgroups: runtime.cgroups.kind }, 'worker ready');

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const step = async (name: string, fn: () => Promise<unknown>) => {
        try {
          await fn();
        } catch (err) {
          log.error({ err }, `${name} failed during shutdown`);
        }
      };
      await step('service close', () => service.close());
      await step('lambda api close', () => lambdaApi.close());
      await step('runtime close', () => runtime.close());
      await step('metrics close', () => new Promise((r) => served.server.close(r)));
      // drain() waits for a server that may be gone already (Ctrl-C stops NATS too).
      await step('nats drain', () =>
        Promise.race([
          nc.drain(),
          new Promise((_, reject) =>
            setTimeout(() => reject(new Error('timed out')), NATS_DRAIN_TIMEOUT_MS).unref(),
          ),
        ]),
      );
      if (!nc.isClosed()) await nc.close();
      log.info('worker stopped');
    })();
    return closing;
  };
  return { id: env.WORKER_ID, service, runtime, metricsUrl: served.url, close };
}
