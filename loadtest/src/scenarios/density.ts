/**
 * `density` scenario: how many frozen instances one worker holds, the host memory each costs,
 * and the CPU the worker uses while they sit frozen. BUSYBOX instances of `busybox-httpd`,
 * then (after those are removed) NODE instances of `node-hello`, spread over functions of
 * 100 instances each. Host memory per instance is the drop in MemAvailable from before the
 * functions were deployed to when all their instances are frozen, divided by their number.
 * The baseline, in the same run: the worker's CPU while it holds no instance at all.
 * Writes <results>/density.json.
 */
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deleteFunction, deployFunction } from '@thaw/devkit';
import type { BenchPlatform } from '../platform.js';
import { cpuPercent, parseCpuSeconds, parseMemAvailableMiB } from '../proc.js';
import { envInt, resultsDir } from '../settings.js';
import { round } from '../stats.js';

export interface DensitySettings {
  busybox: number;
  node: number;
  /** Seconds over which the worker's idle CPU is measured. */
  idleSeconds: number;
  /** Waits for the host's memory to settle: after the upload, and once all are frozen. */
  settleBeforeMs: number;
  settleAfterMs: number;
  resultsDir: string;
}

export function densitySettings(env: NodeJS.ProcessEnv): DensitySettings {
  return {
    busybox: envInt(env, 'BENCH_BUSYBOX', 500),
    node: envInt(env, 'BENCH_NODE', 200),
    idleSeconds: envInt(env, 'BENCH_IDLE_SECONDS', 10),
    settleBeforeMs: 2000,
    settleAfterMs: 3000,
    resultsDir: resultsDir(env),
  };
}

/** Hundreds of containers starting at once on two cores take longer than the default allows. */
export const densityWorkerEnv = { START_TIMEOUT_MS: '60000' };

export interface Fill {
  instances: number;
  mib_per_instance: number;
  idle_cpu_pct: number;
  seconds_to_fill: number;
}

export interface DensityResult {
  busybox: { instances: number; mib_per_instance: number };
  node: { instances: number; mib_per_instance: number };
  idle_cpu_pct: number;
  detail: { busybox: Fill; node: Fill; baseline_idle_cpu_pct_no_instances: number };
}

const PER_FUNCTION = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runDensity(bench: BenchPlatform, s: DensitySettings): Promise<DensityResult> {
  const { platform } = bench;
  const workerPid = platform.worker?.pid;
  if (!workerPid) throw new Error('no worker process');
  const memAvailableMiB = () => parseMemAvailableMiB(readFileSync('/proc/meminfo', 'utf8'));
  const cpuSeconds = () => parseCpuSeconds(readFileSync(`/proc/${workerPid}/stat`, 'utf8'));
  async function idleCpuPct(): Promise<number> {
    const c0 = cpuSeconds();
    const t0 = performance.now();
    await sleep(s.idleSeconds * 1000);
    return cpuPercent(cpuSeconds() - c0, (performance.now() - t0) / 1000);
  }

  /** Instances of `names` on the workers, from their heartbeats (works for deleted functions too). */
  async function frozenCount(names: string[]): Promise<{ frozen: number; total: number }> {
    const { workers } = (await (
      await fetch(`${platform.gatewayUrl}/v1/workers`, {
        headers: { authorization: `Bearer ${platform.token}` },
      })
    ).json()) as {
      workers: { functions: { name: string; starting: number; instances: { state: string }[] }[] }[];
    };
    let frozen = 0;
    let total = 0;
    for (const f of workers.flatMap((w) => w.functions)) {
      if (!names.includes(f.name)) continue;
      total += f.instances.length + f.starting;
      frozen += f.instances.filter((i) => i.state === 'frozen').length;
    }
    return { frozen, total };
  }

  async function fill(
    image: 'busybox-httpd' | 'node-hello',
    count: number,
    memoryMiB: number,
  ): Promise<Fill> {
    const digest = await bench.image(image);
    await sleep(s.settleBeforeMs);
    const before = memAvailableMiB();
    const names: string[] = [];
    const t0 = performance.now();
    try {
      for (let i = 0; i * PER_FUNCTION < count; i++) {
        const n = Math.min(PER_FUNCTION, count - i * PER_FUNCTION);
        const name = `dens-${image.split('-')[0]}-${i}`;
        names.push(name);
        await deployFunction(
          platform.gatewayUrl,
          { name, image: digest, minInstances: n, maxInstances: n, memoryMiB, idleTtlMs: 3_600_000 },
          platform.token,
        );
      }
      let last = { frozen: 0, total: 0 };
      const deadline = Date.now() + 30 * 60_000;
      while (last.frozen < count) {
        if (Date.now() > deadline) throw new Error(`only ${last.frozen} of ${count} frozen after 30 minutes`);
        await sleep(1000);
        last = await frozenCount(names);
      }
      const seconds = (performance.now() - t0) / 1000;
      await sleep(s.settleAfterMs); // page cache and slabs settle
      const used = before - memAvailableMiB();
      const cpu = await idleCpuPct();
      console.log(
        `${image}: ${last.frozen} frozen in ${seconds.toFixed(0)} s; ${(used / last.frozen).toFixed(2)} MiB of host memory each; worker idle CPU ${cpu}% of a core`,
      );
      return {
        instances: last.frozen,
        mib_per_instance: round(used / last.frozen, 2),
        idle_cpu_pct: cpu,
        seconds_to_fill: Math.round(seconds),
      };
    } finally {
      for (const name of names)
        await deleteFunction(platform.gatewayUrl, name, platform.token).catch(() => undefined);
      const gone = Date.now() + 10 * 60_000;
      const left = () =>
        frozenCount(names).then(
          (c) => c.total,
          () => 0,
        );
      while ((await left()) > 0 && Date.now() < gone) await sleep(1000);
    }
  }

  const baselineCpu = await idleCpuPct();
  console.log(`worker idle CPU with no instance: ${baselineCpu}% of a core`);
  const busybox = await fill('busybox-httpd', s.busybox, 16);
  const node = await fill('node-hello', s.node, 64);
  const out: DensityResult = {
    busybox: { instances: busybox.instances, mib_per_instance: busybox.mib_per_instance },
    node: { instances: node.instances, mib_per_instance: node.mib_per_instance },
    idle_cpu_pct: Math.max(busybox.idle_cpu_pct, node.idle_cpu_pct),
    detail: { busybox, node, baseline_idle_cpu_pct_no_instances: baselineCpu },
  };
  await mkdir(s.resultsDir, { recursive: true });
  await writeFile(join(s.resultsDir, 'density.json'), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote ${join(s.resultsDir, 'density.json')}`);
  return out;
}
