import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createThawClient, type ThawClient } from './client.js';
import { type Service, startNats, startRedis } from './services.js';
import { type Restart, type SuperviseOptions, Supervisor } from './supervise.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export interface PlatformOptions {
  /** Use this NATS server instead of starting one. */
  natsUrl?: string | undefined;
  /** Use this Redis server instead of starting one. */
  redisUrl?: string | undefined;
  /** Data folders of the NATS and Redis servers started here (temporary when absent). */
  natsDir?: string;
  redisDir?: string;
  /** Gateway port; 0 picks a free one. */
  gatewayPort?: number;
  /** Prefix of NATS subjects and Redis keys. */
  prefix?: string;
  /** Environment of the worker (THAW_STATE_DIR, THAW_BRIDGE, ...), on top of the defaults. */
  workerEnv?: Record<string, string>;
  /**
   * The admin token the gateways take (THAW_ADMIN_TOKEN); a random one when absent. With
   * `tokenFile` instead, the gateway makes one on its first start and writes it there.
   */
  adminToken?: string;
  tokenFile?: string;
  /** More environment of the gateway(s). */
  gatewayEnv?: Record<string, string>;
  /** Start a worker on this host (default); false when the caller starts its own (startWorkerHost). */
  worker?: boolean;
  /** 'inherit' shows the processes' logs; 'buffer' keeps the last lines for errors. */
  logs?: 'inherit' | 'buffer';
  logLevel?: string;
  /**
   * Restart the NATS and Redis servers, the worker and the first gateway when one dies (a
   * restarted server keeps its data when natsDir / redisDir are given); past the budget, stop
   * everything and call `onStop`. Then the servers also get their own process group (a Ctrl-C
   * stops them last, after the worker drained), and close() reclaims the containers of a worker
   * that died, with a worker started only for that. Off by default: tests that kill a process
   * on purpose expect it to stay dead.
   */
  supervise?: SuperviseOptions;
}

export interface Platform {
  readonly gatewayUrl: string;
  /** The admin token (for /v1/*). */
  readonly token: string;
  /** fetch with the admin token (any gateway of this platform). */
  fetch(url: string, init?: RequestInit): Promise<Response>;
  /** The generated API client (@thaw/client) of the first gateway, with the admin token. */
  readonly api: ThawClient;
  readonly natsUrl: string;
  readonly redisUrl: string;
  /** The worker's process (the latest, when supervised). */
  readonly worker: ChildProcess | undefined;
  /** The worker's GET /metrics URL (when this platform started a worker). */
  readonly workerMetricsUrl: string | undefined;
  /** The first gateway's process (the latest, when supervised). */
  readonly gateway: ChildProcess;
  /** The restarts a supervised platform made, oldest first. */
  readonly restarts: readonly Restart[];
  /** Last lines the worker and gateway printed (with logs: 'buffer'). */
  output(): string;
  /** Starts one more gateway on the same NATS and Redis (stopped by close()); resolves to its URL. */
  addGateway(): Promise<string>;
  /** Stops the gateway, then the worker (which removes its containers), then the servers. */
  close(): Promise<void>;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return Promise.race([
    new Promise<boolean>((r) => child.once('exit', () => r(true))),
    sleep(ms).then(() => false),
  ]);
}

async function stop(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if (!(await waitExit(child, ms))) {
    child.kill('SIGKILL');
    await waitExit(child, 5000);
  }
}

/** Starts NATS and Redis (unless given), one worker and the gateway as child processes. */
export async function startPlatform(o: PlatformOptions = {}): Promise<Platform> {
  const started: Service[] = [];
  const workers: ChildProcess[] = [];
  const gateways: ChildProcess[] = [];
  let out = '';
  const keep = (b: Buffer) => {
    out = (out + b.toString()).slice(-64 * 1024);
  };
  const launch = (name: 'worker' | 'gateway', env: Record<string, string>) => {
    const out = o.logs === 'inherit' ? 'inherit' : 'pipe';
    const child = spawn(process.execPath, [`${REPO}/${name}/dist/main.js`], {
      env: { ...process.env, LOG_LEVEL: o.logLevel ?? 'info', ...env },
      // The IPC channel carries the "ready" message, whatever the log level.
      stdio: ['ignore', out, out, 'ipc'],
    });
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    (name === 'worker' ? workers : gateways).push(child);
    const ready = readyMessage(child, name);
    // A start given up on (the process died or hung) must not leave a process behind.
    ready.catch(() => stop(child, 5000));
    return { child, ready };
  };
  let stopSupervising = async () => {};
  // Set once every process got ready: a worker that failed its start has no containers to reclaim.
  let running = false;
  let workerLaunch: (() => ReturnType<typeof launch>) | undefined;
  const closeAll = async () => {
    await stopSupervising();
    for (const c of [...gateways].reverse()) await stop(c, 60_000);
    for (const c of workers) await stop(c, 60_000);
    const last = workers.at(-1);
    if (o.supervise && running && workerLaunch && last && last.exitCode !== 0) {
      // The worker died (or was cut short while draining): one more start reclaims the
      // containers, network and cgroups it left, and its stop removes the rest.
      const reclaim = workerLaunch();
      const ok = await reclaim.ready.then(
        () => true,
        (err: unknown) => {
          keep(
            Buffer.from(`reclaiming the containers of the dead worker failed: ${(err as Error).message}\n`),
          );
          return false;
        },
      );
      if (ok) await stop(reclaim.child, 60_000);
    }
    for (const s of started.reverse()) await s.close();
  };
  try {
    const own = { ownGroup: o.supervise !== undefined };
    const natsOptions = { ...own, ...(o.natsDir ? { dataDir: o.natsDir } : {}) };
    const redisOptions = { ...own, ...(o.redisDir ? { dataDir: o.redisDir } : {}) };
    let natsUrl = o.natsUrl;
    let nats: Service | undefined;
    if (!natsUrl) {
      nats = await startNats(natsOptions);
      started.push(nats);
      natsUrl = nats.url;
    }
    let redisUrl = o.redisUrl;
    let redis: Service | undefined;
    if (!redisUrl) {
      redis = await startRedis(redisOptions);
      started.push(redis);
      redisUrl = redis.url;
    }
    const prefix = o.prefix ?? 'thaw';
    const workerEnv = { NATS_URL: natsUrl, THAW_PREFIX: prefix, ...o.workerEnv };
    workerLaunch = o.worker === false ? undefined : () => launch('worker', workerEnv);
    const worker = workerLaunch?.();
    const workerReady = await worker?.ready;
    const tokenEnv: Record<string, string> = o.tokenFile
      ? { THAW_TOKEN_FILE: o.tokenFile, ...(o.adminToken ? { THAW_ADMIN_TOKEN: o.adminToken } : {}) }
      : { THAW_ADMIN_TOKEN: o.adminToken ?? `thaw_test_${randomBytes(16).toString('hex')}` };
    const startGateway = async (port: number) => {
      const gateway = launch('gateway', {
        NATS_URL: natsUrl,
        REDIS_URL: redisUrl,
        THAW_PREFIX: prefix,
        PORT: String(port),
        HOST: '127.0.0.1',
        ...tokenEnv,
        ...o.gatewayEnv,
      });
      const listening = (await gateway.ready).url;
      // fastify reports the address it bound; callers on this machine use loopback.
      return { child: gateway.child, url: `http://127.0.0.1:${new URL(String(listening)).port}` };
    };
    const gateway = await startGateway(o.gatewayPort ?? 8080);
    const gatewayUrl = gateway.url;
    let gatewayChild = gateway.child;
    const token =
      tokenEnv.THAW_ADMIN_TOKEN ??
      (await readFile(o.tokenFile ?? '', 'utf8').then(
        (t) => t.trim(),
        () => {
          throw new Error(
            `no admin token: ${o.tokenFile} is missing (the token was made earlier, elsewhere); set THAW_ADMIN_TOKEN`,
          );
        },
      ));
    let closing: Promise<void> | undefined;
    const close = () => {
      closing ??= closeAll();
      return closing;
    };
    const supervisor = o.supervise
      ? new Supervisor(o.supervise, (err) => {
          const onStop = o.supervise?.onStop;
          void close().then(() => onStop?.(err));
        })
      : undefined;
    if (supervisor) {
      stopSupervising = () => supervisor.stop();
      // A restarted server takes the port of the one before: the others reconnect to it.
      const restartService = (name: string, first: Service, begin: (port: number) => Promise<Service>) => {
        let current = first;
        const port = Number(new URL(first.url).port);
        supervisor.watch(name, first.process, async () => {
          await current.close();
          const next = await begin(port);
          started[started.indexOf(current)] = next;
          current = next;
          return next.process;
        });
      };
      if (nats) restartService('nats-server', nats, (port) => startNats({ ...natsOptions, port }));
      if (redis) restartService('redis-server', redis, (port) => startRedis({ ...redisOptions, port }));
      if (worker && workerLaunch) {
        const again = workerLaunch;
        supervisor.watch('worker', worker.child, async () => {
          const next = again();
          await next.ready;
          return next.child;
        });
      }
      const gatewayPort = Number(new URL(gatewayUrl).port);
      supervisor.watch('gateway', gateway.child, async () => {
        gatewayChild = (await startGateway(gatewayPort)).child;
        return gatewayChild;
      });
    }
    running = true;
    return {
      gatewayUrl,
      token,
      api: createThawClient({ baseUrl: gatewayUrl, token }),
      fetch: (url, init = {}) =>
        fetch(url, {
          ...init,
          headers: {
            authorization: `Bearer ${token}`,
            ...(init.headers as Record<string, string> | undefined),
          },
        }),
      natsUrl,
      redisUrl,
      get worker() {
        return workerLaunch ? workers.at(-1) : undefined;
      },
      workerMetricsUrl: workerReady?.metrics,
      get gateway() {
        return gatewayChild;
      },
      restarts: supervisor?.restarts ?? [],
      output: () => out,
      addGateway: async () => (await startGateway(0)).url,
      close,
    };
  } catch (err) {
    await closeAll();
    throw new Error(`${(err as Error).message}\n--- output ---\n${out}`);
  }
}

function readyMessage(child: ChildProcess, name: string): Promise<{ url?: string; metrics?: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not get ready within 60 s`)), 60_000);
    child.once('message', (m: { ready?: boolean; url?: string; metrics?: string }) => {
      clearTimeout(timer);
      if (m.ready) resolve(m);
      else reject(new Error(`${name} sent an unexpected message`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code} during start`));
    });
  });
}
