/**
 * `density` scenario: how many frozen instances one worker holds within its memory budget
 * (THAW_MEMORY_MIB = BENCH_DENSITY_MIB), the host memory each costs, and the CPU the worker and
 * its instances use while they sit frozen. Functions of up to 100 instances (minInstances =
 * maxInstances) are deployed one after another, `busybox-httpd` first, then (after those are
 * removed) `node-hello`, until the count stops growing: the worker refuses starts (its budget),
 * the host gets tight (MemAvailable under HOST_FLOOR_MIB), the safety cap or the time runs out.
 * What stopped it is reported with its figures (charged memory, tasks, start failures).
 * Host memory per instance is the drop in MemAvailable over the fill, divided by the count.
 * The baseline, in the same run: the worker's CPU while it holds no instance at all.
 * Writes <results>/density.json.
 */
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deleteFunction, deployFunction, unwrap } from '@thaw/devkit';
import { parentMemoryMiB, platformCpuSeconds } from '../cgroup-usage.js';
import { densityChart } from '../charts/density.js';
import { writeChart } from '../charts/render.js';
import { type BenchPlatform, workerSamples } from '../platform.js';
import { cpuPercent, parseMemAvailableMiB } from '../proc.js';
import { sumBy } from '../promtext.js';
import { envInt, resultsDir } from '../settings.js';
import { round } from '../stats.js';

export interface DensitySettings {
  /** Safety caps: the fill stops there even with room left. */
  busybox: number;
  node: number;
  /** The worker's THAW_MEMORY_MIB (densityWorkerEnv); only reported here. */
  budgetMiB: number;
  /** Longest fill per image, in seconds. */
  maxSeconds: number;
  /** Seconds without a new frozen instance after which the fill counts as stopped. */
  stallSeconds: number;
  /** Seconds over which idle CPU is measured. */
  idleSeconds: number;
  /** Waits for the host's memory to settle: after the upload, and once all are frozen. */
  settleBeforeMs: number;
  settleAfterMs: number;
  resultsDir: string;
}

export function densitySettings(env: NodeJS.ProcessEnv): DensitySettings {
  return {
    busybox: envInt(env, 'BENCH_BUSYBOX', 10_000),
    node: envInt(env, 'BENCH_NODE', 5_000),
    budgetMiB: envInt(env, 'BENCH_DENSITY_MIB', 8192, 16),
    maxSeconds: envInt(env, 'BENCH_DENSITY_MAX_S', 1800),
    stallSeconds: envInt(env, 'BENCH_DENSITY_STALL_S', 20),
    idleSeconds: envInt(env, 'BENCH_IDLE_SECONDS', 10),
    settleBeforeMs: 2000,
    settleAfterMs: 3000,
    resultsDir: resultsDir(env),
  };
}

/** Hundreds of containers starting at once on two cores take longer than the default allows. */
export function densityWorkerEnv(budgetMiB?: number): Record<string, string> {
  return { START_TIMEOUT_MS: '60000', ...(budgetMiB ? { THAW_MEMORY_MIB: String(budgetMiB) } : {}) };
}

/** Below this much MemAvailable the fill stops: the host, not the budget, would decide then. */
export const HOST_FLOOR_MIB = 2048;

export type StoppedBy = 'budget' | 'host-memory' | 'start-failures' | 'cap' | 'time';

export interface Fill {
  instances: number;
  mib_per_instance: number;
  /** The instances' cgroup parent's memory usage per instance: unmoved by the host's other tenants. */
  cgroup_mib_per_instance: number;
  idle_cpu_pct: number;
  seconds_to_fill: number;
  stopped_by: StoppedBy;
  /** What the worker charged its instances (heartbeat memoryMiB; null where not reported). */
  charged_mib: number | null;
  mem_available_mib: number;
  /** Tasks (threads) on the host and the kernel's pid_max, from /proc. */
  tasks: number;
  pid_max: number;
  /** Instance starts by result during the fill (worker metrics). */
  starts_by_result: Record<string, number>;
}

export interface DensityResult {
  busybox: { instances: number; mib_per_instance: number; stopped_by: StoppedBy };
  node: { instances: number; mib_per_instance: number; stopped_by: StoppedBy };
  idle_cpu_pct: number;
  budget_mib: number;
  detail: { busybox: Fill; node: Fill; baseline_idle_cpu_pct_no_instances: number };
}

const PER_FUNCTION = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const memAvailableMiB = () => parseMemAvailableMiB(readFileSync('/proc/meminfo', 'utf8'));
const tasks = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[3]?.split('/')[1]);
const pidMax = () => Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim());

interface Held {
  frozen: number;
  total: number;
  charged: number | null;
}

export async function runDensity(bench: BenchPlatform, s: DensitySettings): Promise<DensityResult> {
  const { platform } = bench;
  const workerPid = platform.worker?.pid;
  if (!workerPid) throw new Error('no worker process');
  async function idleCpuPct(): Promise<number> {
    const c0 = platformCpuSeconds(workerPid as number, bench.rt.cgroupParent);
    const t0 = performance.now();
    await sleep(s.idleSeconds * 1000);
    const used = platformCpuSeconds(workerPid as number, bench.rt.cgroupParent) - c0;
    return cpuPercent(used, (performance.now() - t0) / 1000);
  }

  /** Instances of `names` on the workers, from their heartbeats (works for deleted functions too). */
  async function held(names: string[]): Promise<Held> {
    const { workers } = unwrap(await platform.api.GET('/v1/workers'));
    const out: Held = { frozen: 0, total: 0, charged: null };
    for (const f of workers.flatMap((w) => w.functions)) {
      if (!names.includes(f.name)) continue;
      out.total += f.instances.length + f.starting;
      out.frozen += f.instances.filter((i) => i.state === 'frozen').length;
      for (const i of f.instances)
        if (i.memoryMiB !== undefined) out.charged = (out.charged ?? 0) + i.memoryMiB;
    }
    return out;
  }
  const startsByResult = async () =>
    sumBy(await workerSamples(platform), 'thaw_worker_instance_starts_total', 'result');

  async function fill(image: 'busybox-httpd' | 'node-hello', cap: number, memoryMiB: number): Promise<Fill> {
    const digest = await bench.image(image);
    await sleep(s.settleBeforeMs);
    const before = memAvailableMiB();
    const startsBefore = await startsByResult();
    const names: string[] = [];
    const t0 = performance.now();
    const elapsedS = () => (performance.now() - t0) / 1000;
    let last: Held = { frozen: 0, total: 0, charged: null };
    let stoppedBy: StoppedBy | undefined;
    try {
      let asked = 0;
      let progressAt = performance.now();
      while (!stoppedBy) {
        // Deploy the next function once every instance asked for so far is frozen.
        if (last.frozen >= asked) {
          if (asked >= cap) {
            stoppedBy = 'cap';
            break;
          }
          const n = Math.min(PER_FUNCTION, cap - asked);
          const name = `dens-${image.split('-')[0]}-${names.length}`;
          names.push(name);
          const spec = { name, image: digest, minInstances: n, maxInstances: n, memoryMiB };
          await deployFunction(platform.gatewayUrl, spec, platform.token);
          asked += n;
        }
        await sleep(1000);
        const now = await held(names);
        if (now.frozen > last.frozen) progressAt = performance.now();
        last = now;
        if (memAvailableMiB() < HOST_FLOOR_MIB) stoppedBy = 'host-memory';
        else if (elapsedS() > s.maxSeconds) stoppedBy = 'time';
        else if (performance.now() - progressAt > s.stallSeconds * 1000) {
          // No new instance for a while: the budget is full, or starts fail for another reason.
          const full = last.charged !== null && last.charged + memoryMiB > s.budgetMiB;
          stoppedBy = full ? 'budget' : 'start-failures';
        }
      }
      const seconds = elapsedS();
      await sleep(s.settleAfterMs); // page cache and slabs settle
      last = await held(names);
      const available = memAvailableMiB();
      const cgroupMiB = parentMemoryMiB(bench.rt.cgroupParent);
      const used = before - available;
      const cpu = await idleCpuPct();
      const startsAfter = await startsByResult();
      const starts: Record<string, number> = {};
      for (const [k, v] of Object.entries(startsAfter)) starts[k] = v - (startsBefore[k] ?? 0);
      const f: Fill = {
        instances: last.frozen,
        mib_per_instance: last.frozen ? round(used / last.frozen, 2) : 0,
        cgroup_mib_per_instance: last.frozen ? round(cgroupMiB / last.frozen, 2) : 0,
        idle_cpu_pct: cpu,
        seconds_to_fill: Math.round(seconds),
        stopped_by: stoppedBy,
        charged_mib: last.charged === null ? null : round(last.charged, 1),
        mem_available_mib: Math.round(available),
        tasks: tasks(),
        pid_max: pidMax(),
        starts_by_result: starts,
      };
      console.log(
        `${image}: ${f.instances} frozen in ${f.seconds_to_fill} s, stopped by ${f.stopped_by} ` +
          `(charged ${f.charged_mib} of ${s.budgetMiB} MiB, MemAvailable ${f.mem_available_mib} MiB, ` +
          `${f.tasks} of ${f.pid_max} tasks, starts ${JSON.stringify(starts)}); ` +
          `${f.mib_per_instance} MiB of host memory each (${f.cgroup_mib_per_instance} MiB in their cgroups); idle CPU ${cpu}% of a core`,
      );
      return f;
    } finally {
      for (const name of names)
        await deleteFunction(platform.gatewayUrl, name, platform.token).catch(() => undefined);
      const gone = Date.now() + 10 * 60_000;
      const left = () =>
        held(names).then(
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
  const short = (f: Fill) => ({
    instances: f.instances,
    mib_per_instance: f.mib_per_instance,
    stopped_by: f.stopped_by,
  });
  const out: DensityResult = {
    busybox: short(busybox),
    node: short(node),
    idle_cpu_pct: Math.max(busybox.idle_cpu_pct, node.idle_cpu_pct),
    budget_mib: s.budgetMiB,
    detail: { busybox, node, baseline_idle_cpu_pct_no_instances: baselineCpu },
  };
  await mkdir(s.resultsDir, { recursive: true });
  await writeFile(join(s.resultsDir, 'density.json'), `${JSON.stringify(out, null, 2)}\n`);
  await writeChart(s.resultsDir, 'density', densityChart(out));
  console.log(`wrote ${join(s.resultsDir, 'density.json')}, density.svg and density.png`);
  return out;
}
