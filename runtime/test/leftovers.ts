import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Runtime, type RuntimeOptions, residueItems } from '../src/index.js';
import { isRunning } from '../src/process/index.js';

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    // The process exited while we looked.
    return '';
  }
}

/** Mount points of every cgroup hierarchy, v1 controllers and the unified tree alike. */
export function cgroupMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => / - cgroup2? /.test(l))
    .map((l) => l.split(' ')[4] ?? '')
    .filter(Boolean);
}

/**
 * Everything one runtime left on the host, as "kind: item" lines. The runtime's own residue()
 * is the first half; the rest is looked up independently of the runtime's code, so a bug in
 * its bookkeeping cannot hide a leak: processes still in its cgroups or naming its folders,
 * cgroup directories in every hierarchy the host has mounted, iptables rules naming its bridge
 * or subnet, and, once closed, its bridge, run folder and cgroup parents.
 *
 * `open`: the runtime is still open, so its bridge, firewall chains and cgroup parents are
 * expected; only what its containers had must be gone.
 */
export async function leftovers(
  runtime: Runtime,
  opts: RuntimeOptions,
  when: 'open' | 'closed',
): Promise<string[]> {
  const found = residueItems(await runtime.residue(), { exceptFirewall: when === 'open' });

  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    // A zombie has let go of everything but its pid; reaping it is the host init's job.
    if (!isRunning(Number(pid))) continue;
    const cgroup = readOrEmpty(`/proc/${pid}/cgroup`);
    const cmdline = readOrEmpty(`/proc/${pid}/cmdline`).replaceAll('\0', ' ');
    if (cgroup.includes(`/${opts.cgroupParent}/`) || cgroup.includes(`/${opts.cgroupParent}\n`)) {
      found.push(`process: ${pid} in cgroup ${opts.cgroupParent} (${cmdline.trim()})`);
    } else if (cmdline.includes(opts.runDir) || cmdline.includes(`${opts.stateDir}/`)) {
      found.push(`process: ${pid} (${cmdline.trim()})`);
    }
  }

  for (const mount of cgroupMounts()) {
    const parent = join(mount, opts.cgroupParent);
    if (!existsSync(parent)) continue;
    if (when === 'closed') found.push(`cgroup dir: ${parent}`);
    else {
      for (const e of readdirSync(parent, { withFileTypes: true })) {
        if (e.isDirectory()) found.push(`cgroup dir: ${join(parent, e.name)}`);
      }
    }
  }

  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const target = line.split(' ')[4] ?? '';
    if (target.startsWith(`${opts.stateDir}/`) || target.startsWith(opts.runDir)) {
      found.push(`mount: ${target}`);
    }
  }

  for (const name of sh('ip', ['netns', 'list']).split('\n')) {
    if (name.startsWith(`${opts.cgroupParent}-`)) found.push(`netns: ${name.split(' ')[0]}`);
  }

  const ownChains = new RegExp(`THAW-(IN|FW|NAT)-${opts.bridge}\\b`);
  for (const table of ['filter', 'nat']) {
    for (const rule of sh('iptables', ['-w', '5', '-t', table, '-S']).split('\n')) {
      if (!rule.includes(opts.bridge) && !rule.includes(opts.subnet)) continue;
      if (when === 'open' && ownChains.test(rule)) continue;
      found.push(`iptables ${table}: ${rule}`);
    }
  }

  if (when === 'closed') {
    if (sh('ip', ['-o', 'link', 'show', 'dev', opts.bridge])) found.push(`link: ${opts.bridge}`);
    if (existsSync(opts.runDir)) found.push(`folder: ${opts.runDir}`);
  }
  return found;
}
