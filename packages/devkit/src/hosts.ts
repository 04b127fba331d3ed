import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type RuntimeOptions, scratchRuntimeOptions } from '@thaw/runtime';
import { workerEnvFor } from './scratch.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export interface WorkerHostOptions {
  /** NATS port on the host; the worker reaches it at the host end of its veth. */
  natsPort: number;
  prefix: string;
  workerId: string;
  /** More worker environment (HEARTBEAT_MS, THAW_MEMORY_MIB, ...). */
  env?: Record<string, string>;
  logLevel?: string;
}

/**
 * A worker that behaves like one on a host of its own: its own network namespace (reaching
 * NATS over a veth pair), state folder, cgroup parent, bridge and subnet. Mounts and cgroups
 * are the machine's, as they would be on a real host.
 */
export interface WorkerHost {
  readonly workerId: string;
  readonly netns: string;
  readonly runtime: RuntimeOptions;
  readonly child: ChildProcess;
  /** Last lines the worker printed. */
  output(): string;
  /** Starts the worker (again, after a kill: it reclaims what the killed one left). */
  start(): Promise<void>;
  /** SIGKILL: nothing is cleaned up. */
  kill(): Promise<void>;
  /** SIGTERM: the worker drains and removes its instances. */
  stop(): Promise<void>;
  /** Stops the worker and removes the namespace, the veth and the folders. */
  close(): Promise<void>;
}

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return Promise.race([
    new Promise<boolean>((r) => child.once('exit', () => r(true))),
    sleep(ms).then(() => false),
  ]);
}

// A /30 per host link out of 10.253.0.0/16, from a random base so runs do not collide.
let nextLink = randomInt(0, 16_000);

export async function startWorkerHost(o: WorkerHostOptions): Promise<WorkerHost> {
  const suffix = randomBytes(3).toString('hex');
  const netns = `thaw-host-${suffix}`;
  const vethHost = `te${suffix}`;
  const vethPeer = `tp${suffix}`;
  const link = nextLink++ % 16_384;
  const base = `10.253.${Math.floor(link / 64)}.${(link % 64) * 4}`;
  const [a, b, c, d] = base.split('.').map(Number) as [number, number, number, number];
  const hostIp = `${a}.${b}.${c}.${d + 1}`;
  const peerIp = `${a}.${b}.${c}.${d + 2}`;
  const runtime = scratchRuntimeOptions('wh');

  sh('ip', ['netns', 'add', netns]);
  try {
    sh('ip', ['link', 'add', vethHost, 'type', 'veth', 'peer', 'name', vethPeer]);
    sh('ip', ['link', 'set', vethPeer, 'netns', netns]);
    sh('ip', ['addr', 'add', `${hostIp}/30`, 'dev', vethHost]);
    sh('ip', ['link', 'set', vethHost, 'up']);
    const inNs = (args: string[]) => sh('ip', ['-n', netns, ...args]);
    inNs(['link', 'set', 'lo', 'up']);
    inNs(['addr', 'add', `${peerIp}/30`, 'dev', vethPeer]);
    inNs(['link', 'set', vethPeer, 'up']);
    inNs(['route', 'add', 'default', 'via', hostIp]);
  } catch (err) {
    await removeNetns(netns, vethHost);
    throw err;
  }

  let out = '';
  let child: ChildProcess | undefined;
  const start = async () => {
    // A second process on the same state would reclaim the running worker's containers as an
    // earlier run's leftovers (a test that failed before its kill, then started it "again").
    if (child && child.exitCode === null && child.signalCode === null)
      throw new Error(`worker ${o.workerId} is still running: kill() or stop() it first`);
    // nsenter enters only the network namespace (`ip netns exec` would remount /sys, hiding
    // the cgroup file systems) and execs node, so the IPC channel for "ready" is kept.
    const proc = spawn(
      'nsenter',
      [`--net=/run/netns/${netns}`, '--', process.execPath, `${REPO}/worker/dist/main.js`],
      {
        env: {
          ...process.env,
          LOG_LEVEL: o.logLevel ?? 'warn',
          NATS_URL: `nats://${hostIp}:${o.natsPort}`,
          THAW_PREFIX: o.prefix,
          WORKER_ID: o.workerId,
          ...workerEnvFor(runtime),
          ...o.env,
        },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      },
    );
    const keep = (buf: Buffer) => {
      out = (out + buf.toString()).slice(-32 * 1024);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    child = proc;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`worker ${o.workerId} not ready in 60 s:\n${out}`)),
        60_000,
      );
      proc.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`worker ${o.workerId} exited with ${code} during start:\n${out}`));
      });
    });
  };
  const kill = async () => {
    if (!child) return;
    child.kill('SIGKILL');
    await exited(child, 5000);
  };
  const stop = async () => {
    if (!child) return;
    child.kill('SIGTERM');
    if (!(await exited(child, 60_000))) await kill();
  };

  const removeFolders = async () => {
    await rm(runtime.stateDir, { recursive: true, force: true });
    await rm(runtime.runDir, { recursive: true, force: true });
  };
  try {
    await start();
  } catch (err) {
    // A start that fails (a test of a refused start expects it) leaves no folder either.
    await kill();
    await removeNetns(netns, vethHost);
    await removeFolders();
    throw err;
  }
  return {
    workerId: o.workerId,
    netns,
    runtime,
    get child() {
      if (!child) throw new Error('not started');
      return child;
    },
    output: () => out,
    start,
    kill,
    stop,
    close: async () => {
      await stop();
      await removeNetns(netns, vethHost);
      await removeFolders();
    },
  };
}

async function removeNetns(netns: string, veth: string): Promise<void> {
  for (const args of [
    ['link', 'delete', veth],
    ['netns', 'delete', netns],
  ]) {
    try {
      sh('ip', args);
    } catch {
      // already gone (deleting the namespace removes the veth pair too)
    }
  }
}
