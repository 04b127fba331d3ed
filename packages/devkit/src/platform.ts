import { type ChildProcess, spawn } from 'node:child_process';
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
  /** 'inherit' shows the processes' logs; 'buffer' keeps the last lines for errors. */
  logs?: 'inherit' | 'buffer';
  logLevel?: string;
}

export interface Platform {
  readonly gatewayUrl: string;
  readonly natsUrl: string;
  readonly redisUrl: string;
  readonly worker: ChildProcess;
  readonly gateway: ChildProcess;
  /** Last lines the worker and gateway printed (with logs: 'buffer'). */
  output(): string;
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
    const child = spawn(process.execPath, [`${REPO}/${name}/dist/main.js`], {
      env: { ...process.env, LOG_LEVEL: o.logLevel ?? 'info', ...env },
      stdio: ['ignore', o.logs === 'inherit' ? 'inherit' : 'pipe', o.logs === 'inherit' ? 'inherit' : 'pipe'],
    });
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    children.push(child);
    return child;
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
    const worker = launch('worker', { NATS_URL: natsUrl, THAW_PREFIX: prefix, ...o.workerEnv });
    await waitFor(() => out.includes('"worker ready"'), worker, 60_000, 'worker');
    const port = o.gatewayPort ?? 8080;
    const gateway = launch('gateway', {
      NATS_URL: natsUrl,
      REDIS_URL: redisUrl,
      THAW_PREFIX: prefix,
      PORT: String(port),
      HOST: '127.0.0.1',
    });
    const gatewayUrl = await waitGateway(gateway, () => out, port);
    let closing: Promise<void> | undefined;
    return {
      gatewayUrl,
      natsUrl,
      redisUrl,
      worker,
      gateway,
      output: () => out,
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

async function waitFor(check: () => boolean, child: ChildProcess, ms: number, name: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} during start`);
    if (Date.now() > deadline) throw new Error(`${name} did not get ready within ${ms} ms`);
    await sleep(20);
  }
}

async function waitGateway(child: ChildProcess, output: () => string, port: number): Promise<string> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`gateway exited with code ${child.exitCode} during start`);
    // With port 0 the gateway reports where it listens in its log line.
    const m = port === 0 ? /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output()) : null;
    const url = port === 0 ? m?.[1] : `http://127.0.0.1:${port}`;
    if (url) {
      const ok = await fetch(`${url}/healthz`)
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) return url;
    }
    await sleep(50);
  }
  throw new Error('gateway did not answer /healthz within 30 s');
}
