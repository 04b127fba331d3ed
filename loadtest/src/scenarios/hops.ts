/**
 * `hops` scenario: what one hop between two processes costs on this machine, idle and busy.
 * A chain of N relay processes (hop-relay.ts) on loopback: a line from this process goes through
 * all of them and back, crossing 2N sockets. Sent back to back, each hop costs a scheduler
 * switch; sent `spacingMs` apart, each hop also wakes an idle CPU — on a VM, a halted virtual
 * CPU. A call through thaw's gateway crosses 6 such hops on the direct link (client, gateway,
 * worker, container and back; 8 when it goes through NATS), a direct call 2, so the idle chain of
 * 3 processes (4 over NATS) is the floor of the sparse scenario's gateway path on this machine,
 * and the chain of 1 that of its direct path.
 * Writes <results>/hops.json.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { hopsChart } from '../charts/hops.js';
import { writeChart } from '../charts/render.js';
import { envInt, resultsDir } from '../settings.js';
import { round, type Summary, summarize } from '../stats.js';

export interface HopsSettings {
  /** Round trips per chain and spacing. */
  calls: number;
  /** Pause between idle round trips: long enough for every CPU to go idle. */
  spacingMs: number;
  /** Chain lengths (processes) to measure. */
  chains: number[];
  resultsDir: string;
}

export interface ChainResult {
  processes: number;
  /** Sockets a round trip crosses: 2 per process. */
  hops: number;
  idle: Summary;
  busy: Summary;
  /** Idle p50 over hops: the cost of one hop that wakes an idle CPU. */
  idle_ms_per_hop: number;
}
export interface HopsResult {
  spacing_ms: number;
  chains: ChainResult[];
}

// The built relay, from src/ (tests) as from dist/ (benchmarks).
const RELAY = fileURLToPath(new URL('../../dist/hop-relay.js', import.meta.url));
/** A relay that has not said where it listens by then is broken: stop, do not hang. */
const RELAY_START_TIMEOUT_MS = 10_000;

export function hopsSettings(env: NodeJS.ProcessEnv): HopsSettings {
  return {
    calls: envInt(env, 'BENCH_HOPS_CALLS', 200),
    spacingMs: envInt(env, 'BENCH_HOPS_SPACING_MS', 250),
    chains: [1, 2, 3, 4],
    resultsDir: resultsDir(env),
  };
}

function startRelay(nextPort: number | undefined): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(RELAY, [], {
    env: { ...process.env, NEXT_PORT: nextPort ? String(nextPort) : '' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('hop relay did not start')), RELAY_START_TIMEOUT_MS);
    child.once('message', (m: { port: number }) => {
      clearTimeout(timer);
      resolve({ child, port: m.port });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hop relay exited with ${code}`));
    });
  });
}

/** Stops a relay and waits for it to be gone: the benchmark leaves no process behind. */
function stopRelay(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill();
  });
}

/** Round trips of one line over one connection; the time of each, in ms. */
async function roundTrips(port: number, calls: number, spacingMs: number): Promise<number[]> {
  const sock: Socket = await new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(s));
    s.once('error', reject);
  });
  try {
    const times: number[] = [];
    for (let i = 0; i < calls; i++) {
      if (spacingMs > 0) await sleep(spacingMs);
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        sock.once('data', () => resolve());
        sock.write(`${i}\n`);
      });
      times.push(performance.now() - t0);
    }
    return times;
  } finally {
    sock.destroy();
  }
}

/** Measures every chain, idle and busy, and writes hops.json. */
export async function runHops(s: HopsSettings): Promise<HopsResult> {
  const chains: ChainResult[] = [];
  for (const processes of s.chains) {
    const relays: ChildProcess[] = [];
    try {
      // Built from the end: each relay needs the next one's port.
      let port: number | undefined;
      for (let i = 0; i < processes; i++) {
        const r = await startRelay(port);
        relays.push(r.child);
        port = r.port;
      }
      const entry = port as number;
      await roundTrips(entry, 20, 0); // warms up the connections and the JIT
      const busy = summarize(await roundTrips(entry, s.calls, 0));
      const idle = summarize(await roundTrips(entry, s.calls, s.spacingMs));
      const hops = 2 * processes;
      chains.push({ processes, hops, idle, busy, idle_ms_per_hop: round(idle.p50_ms / hops, 3) });
    } finally {
      await Promise.all(relays.map(stopRelay));
    }
  }
  const result: HopsResult = { spacing_ms: s.spacingMs, chains };
  await mkdir(s.resultsDir, { recursive: true });
  await writeFile(join(s.resultsDir, 'hops.json'), `${JSON.stringify(result, null, 2)}\n`);
  await writeChart(s.resultsDir, 'hops', hopsChart(result));
  for (const c of chains) {
    console.log(
      `${c.processes} process(es), ${c.hops} hops: idle p50 ${c.idle.p50_ms} ms (${c.idle_ms_per_hop}/hop), busy p50 ${c.busy.p50_ms} ms`,
    );
  }
  return result;
}
