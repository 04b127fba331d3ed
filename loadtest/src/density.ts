/**
 * `density` scenario: how many frozen instances one worker holds, the host memory each costs,
 * and the CPU the worker uses while they sit frozen. BUSYBOX instances of `busybox-httpd`,
 * then (after those are removed) NODE instances of `node-hello`, spread over functions of
 * 100 instances each. Host memory per instance is the drop in MemAvailable from before the
 * functions were deployed to when all their instances are frozen, divided by their number.
 * The baseline, in the same run: the worker's CPU while it holds no instance at all.
 * Writes loadtest/results/density.json.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deployFunction, startPlatform, uploadImage, workerEnvFor } from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { buildTestImage } from '@thaw/runtime/testimages';

const BUSYBOX = Number(process.env.BENCH_BUSYBOX ?? 500);
const NODE = Number(process.env.BENCH_NODE ?? 200);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 10);
const PER_FUNCTION = 100;
const results = fileURLToPath(new URL('../results/', import.meta.url));
const rt = scratchRuntimeOptions('dens');

const platform = await startPlatform({
  gatewayPort: 0,
  prefix: 'density',
  logs: 'buffer',
  logLevel: 'warn',
  workerEnv: { ...workerEnvFor(rt), THAW_SUBNET: '10.233.0.0/16', START_TIMEOUT_MS: '60000' },
});
const workerPid = platform.worker?.pid;
if (!workerPid) throw new Error('no worker process');

function memAvailableMiB(): number {
  const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

/** CPU time (user + system, seconds) the process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

async function idleCpuPct(pid: number): Promise<number> {
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  return Math.round(((cpuSeconds(pid) - c0) / ((performance.now() - t0) / 1000)) * 10_000) / 100;
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
): Promise<{ instances: number; mib_per_instance: number; idle_cpu_pct: number; seconds_to_fill: number }> {
  const built = await buildTestImage(image, 'oci', join(rt.stateDir, 'archives'));
  const { digest } = await uploadImage(platform.gatewayUrl, built.path, platform.token);
  await new Promise((r) => setTimeout(r, 2000));
  const before = memAvailableMiB();
  const names: string[] = [];
  const t0 = performance.now();
  for (let i = 0; i * PER_FUNCTION < count; i++) {
    const n = Math.min(PER_FUNCTION, count - i * PER_FUNCTION);
    const name = `dens-${image.split('-')[0]}-${i}`;
    names.push(name);
    await deployFunction(
      platform.gatewayUrl,
      {
        name,
        image: digest,
        minInstances: n,
        maxInstances: n,
        memoryMiB,
        idleTtlMs: 3_600_000,
      },
      platform.token,
    );
  }
  let last = { frozen: 0, total: 0 };
  const deadline = Date.now() + 30 * 60_000;
  while (last.frozen < count) {
    if (Date.now() > deadline) throw new Error(`only ${last.frozen} of ${count} frozen after 30 minutes`);
    await new Promise((r) => setTimeout(r, 1000));
    last = await frozenCount(names);
  }
  const seconds = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 3000)); // page cache and slabs settle
  const used = before - memAvailableMiB();
  const cpu = await idleCpuPct(workerPid as number);
  console.log(
    `${image}: ${last.frozen} frozen in ${seconds.toFixed(0)} s; ${(used / last.frozen).toFixed(2)} MiB of host memory each; worker idle CPU ${cpu}% of a core`,
  );
  for (const name of names)
    await fetch(`${platform.gatewayUrl}/v1/functions/${name}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${platform.token}` },
    });
  const gone = Date.now() + 10 * 60_000;
  while ((await frozenCount(names)).total > 0 && Date.now() < gone)
    await new Promise((r) => setTimeout(r, 1000));
  // The deleted functions' records are gone too, so count the worker's containers instead.
  return {
    instances: last.frozen,
    mib_per_instance: Math.round((used / last.frozen) * 100) / 100,
    idle_cpu_pct: cpu,
    seconds_to_fill: Math.round(seconds),
  };
}

try {
  const baselineCpu = await idleCpuPct(workerPid);
  console.log(`worker idle CPU with no instance: ${baselineCpu}% of a core`);
  const busybox = await fill('busybox-httpd', BUSYBOX, 16);
  const node = await fill('node-hello', NODE, 64);
  const out = {
    busybox: { instances: busybox.instances, mib_per_instance: busybox.mib_per_instance },
    node: { instances: node.instances, mib_per_instance: node.mib_per_instance },
    idle_cpu_pct: Math.max(busybox.idle_cpu_pct, node.idle_cpu_pct),
    detail: { busybox, node, baseline_idle_cpu_pct_no_instances: baselineCpu },
  };
  await mkdir(results, { recursive: true });
  await writeFile(join(results, 'density.json'), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote ${join(results, 'density.json')}`);
} finally {
  await platform.close();
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
}
