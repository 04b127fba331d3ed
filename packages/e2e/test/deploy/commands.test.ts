/**
 * The installed commands run the services as the systemd units do: from the PATH, settings from
 * the environment only, no IPC channel to a parent. A gateway and a worker started so find each
 * other over a real nats-server and redis-server, and SIGTERM (systemd's stop) makes each exit
 * 0, the worker having removed what it made.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { findTestResidue, type Service, startNats, startRedis, workerEnvFor } from '@thaw/devkit';
import { Runtime, scratchRuntimeOptions } from '@thaw/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** Where infra/setup.sh links the commands, and the units run them from. */
const BIN_DIR = '/usr/local/bin';
/** A gateway and a worker are up within this on a busy machine. */
const UP_MS = 30_000;
/** The worker's stop: calls drain (none here), containers, bridge and cgroups go. */
const STOP_MS = 30_000;
const POLL_MS = 100;
const TOKEN = 'deploy-test-admin-token-0123456789';

const rt = scratchRuntimeOptions('s14a');
const workerId = `deploy-${rt.cgroupParent.slice(-6)}`;
let nats: Service;
let redis: Service;
const children: ChildProcess[] = [];
const output = new Map<string, string[]>();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** As systemd would: an environment of its own, stdout and stderr kept, no IPC channel. */
function start(name: string, env: Record<string, string>): ChildProcess {
  const child = spawn(`${BIN_DIR}/${name}`, [], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  output.set(name, lines);
  const keep = (b: Buffer) => lines.push(b.toString());
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  children.push(child);
  return child;
}

function exit(child: ChildProcess, ms: number): Promise<number | string | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return Promise.race([
    new Promise<number | string | null>((r) => child.once('exit', (code, sig) => r(code ?? sig))),
    sleep(ms).then(() => 'still running'),
  ]);
}

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms\n${[...output].join('\n')}`);
    await sleep(POLL_MS);
  }
}

beforeAll(async () => {
  nats = await startNats();
  redis = await startRedis();
});

afterAll(async () => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      if ((await exit(c, STOP_MS)) === 'still running') c.kill('SIGKILL');
    }
  }
  await redis?.close();
  await nats?.close();
  // Whatever a worker that failed its clean-up left, its runtime's next open reclaims.
  const { runtime } = await Runtime.open(rt);
  await runtime.close();
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
});

describe('thaw-gateway and thaw-worker, run as the units run them', () => {
  it('find each other, and stop cleanly on SIGTERM', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const gateway = start('thaw-gateway', {
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      HOST: '127.0.0.1',
      PORT: String(port),
      THAW_ADMIN_TOKEN: TOKEN,
    });
    const worker = start('thaw-worker', { ...workerEnvFor(rt), NATS_URL: nats.url, WORKER_ID: workerId });

    await until('gateway ready', UP_MS, async () => ((await fetch(`${base}/readyz`)).ok ? true : undefined));
    const listed = await until('worker listed', UP_MS, async () => {
      const r = await fetch(`${base}/v1/workers`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const body = (await r.json()) as { workers: Array<{ workerId: string }> };
      return body.workers.some((w) => w.workerId === workerId) ? body.workers : undefined;
    });
    expect(listed.map((w) => w.workerId)).toContain(workerId);

    worker.kill('SIGTERM');
    expect(await exit(worker, STOP_MS)).toBe(0);
    // Its clean-up ran: the bridge, cgroups and folders of its runtime are gone.
    const names = [rt.bridge, rt.cgroupParent, rt.runDir];
    expect(findTestResidue().filter((r) => names.some((n) => r.includes(n)))).toEqual([]);

    gateway.kill('SIGTERM');
    expect(await exit(gateway, STOP_MS)).toBe(0);
  });
});
