/**
 * CPU and memory of everything a worker runs: the worker process (/proc) plus every instance
 * under the runtime's cgroup parent, read from cgroup v1 (cpuacct, memory) where the controller
 * is mounted there, else from v2 (the unified tree, on hybrid hosts under /sys/fs/cgroup/unified).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCpuSeconds } from './proc.js';

const ROOT = '/sys/fs/cgroup';

/** usage_usec of a v2 cpu.stat text, in seconds. */
export function parseV2CpuSeconds(cpuStat: string): number {
  const m = /^usage_usec (\d+)$/m.exec(cpuStat);
  if (!m?.[1]) throw new Error('no usage_usec in cpu.stat');
  return Number(m[1]) / 1e6;
}

function firstExisting(paths: string[]): string | undefined {
  return paths.find((p) => existsSync(p));
}

/** The cgroup parent's CPU seconds (all instances, living ones), 0 when it has none yet. */
export function parentCpuSeconds(parent: string, root = ROOT): number {
  const v1 = join(root, 'cpuacct', parent, 'cpuacct.usage');
  if (existsSync(v1)) return Number(readFileSync(v1, 'utf8').trim()) / 1e9;
  const v2 = firstExisting([join(root, 'unified', parent, 'cpu.stat'), join(root, parent, 'cpu.stat')]);
  return v2 ? parseV2CpuSeconds(readFileSync(v2, 'utf8')) : 0;
}

/** The cgroup parent's memory use in MiB (page cache of the instances included). */
export function parentMemoryMiB(parent: string, root = ROOT): number {
  const path = firstExisting([
    join(root, 'memory', parent, 'memory.usage_in_bytes'),
    join(root, 'unified', parent, 'memory.current'),
    join(root, parent, 'memory.current'),
  ]);
  return path ? Number(readFileSync(path, 'utf8').trim()) / 2 ** 20 : 0;
}

/** CPU seconds of the worker process and of every instance under its cgroup parent. */
export function platformCpuSeconds(workerPid: number, parent: string): number {
  return parseCpuSeconds(readFileSync(`/proc/${workerPid}/stat`, 'utf8')) + parentCpuSeconds(parent);
}
