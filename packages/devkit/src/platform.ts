import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type Service, startNats, startRedis } from './services.js';

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
}

export interface Platform {
  readonly gatewayUrl: string;
  /** The admin token (for /v1/*). */
  readonly token: string;
  /** fetch with the admin token (any gateway of this platform). */
  fetch(url: string, init?: RequestInit): Promise<Response>;
  readonly natsUrl: string;
  readonly redisUrl: string;
  readonly worker: ChildProcess | undefined;
  /** The worker's GET /metrics URL (when this platform started a worker). */
  readonly workerMetricsUrl: string | undefined;
  /** The first gateway's process. */
  readonly gateway: ChildProcess;
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
  const children: ChildProcess[] = [];
  let out = '';
  const keep = (b: Buffer) => {
    out = (out + b.toString()).slice(-64 * 1024);
  };
  const launch = (name: string, env: Record<string, string>) => {
    const out = o.logs === 'inherit' ? 'inherit' : 'pipe';
    const child = spawn(process.execPath, [`${REPO}/${name}/dist/main.js`], {
      env: { ...process.env, LOG_LEVEL: o.logLevel ?? 'info', ...env },
      // The IPC channel carries the "ready" message, whatever the log level.
      stdio: ['ignore', out, out, 'ipc'],
    });
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    children.push(child);
    return { child, ready: readyMessage(child, name) };
  };
  const closeAll = async () => {
    for (const c of [...children].reverse()) await stop(c, 60_000);
    for (const s of started.reverse()) await s.close();
  };
  try {
    let natsUrl = o.natsUrl;
    if (!natsUrl) {
      const nats = await startNats(o.natsDir ? { dataDir: o.natsDir } : {});
      started.push(nats);
      natsUrl = nats.url;
    }
    let redisUrl = o.redisUrl;
    if (!redisUrl) {
      const redis = await startRedis(o.redisDir ? { dataDir: o.redisDir } : {});
      started.push(redis);
      redisUrl = redis.url;
    }
    const prefix = o.prefix ?? 'thaw';
    const worker =
      o.worker === false
        ? undefined
        : launch('worker', { NATS_URL: natsUrl, THAW_PREFIX: prefix, ...o.workerEnv });
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
    return {
      gatewayUrl,
      token,
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
      worker: worker?.child,
      workerMetricsUrl: workerReady?.metrics,
      gateway: gateway.child,
      output: () => out,
      addGateway: async () => (await startGateway(0)).url,
      close: () => {
        closing ??= closeAll();
        return closing;
      },
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
