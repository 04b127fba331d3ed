import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What test and benchmark runs (scratch runtimes: `thaw-<tag>-<hex>` cgroups and namespaces,
 * `th<hex>` bridges, /tmp/thaw-* and /run/thaw-* folders) and their servers left on this host.
 * A running `npm run up` uses other names (thaw, thaw0, /run/thaw) and is not counted.
 */
export function findTestResidue(): string[] {
  const found: string[] = [];
  const sh = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return '';
    }
  };
  const scratch = /^thaw-[a-z0-9]+-[0-9a-f]{6}/;
  for (const line of sh('ip', ['netns', 'list']).split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (scratch.test(name)) found.push(`netns ${name}`);
  }
  for (const line of sh('ip', ['-o', 'link']).split('\n')) {
    const name = line.split(':')[1]?.trim().split('@')[0] ?? '';
    if (/^t[he][0-9a-f]{6}$/.test(name)) found.push(`link ${name}`);
  }
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, target = '', type] = line.split(' ');
    // The rootfs overlay, and the tmpfs under it that holds its writable layer.
    if ((type === 'overlay' || type === 'tmpfs') && /\/thaw-[^/]+\/containers\//.test(target)) {
      found.push(`mount ${target}`);
    }
  }
  for (const base of [
    '/sys/fs/cgroup',
    '/sys/fs/cgroup/unified',
    ...['freezer', 'memory', 'pids', 'cpu'].map((c) => `/sys/fs/cgroup/${c}`),
  ]) {
    if (!existsSync(base)) continue;
    for (const d of readdirSync(base)) if (scratch.test(d)) found.push(`cgroup ${join(base, d)}`);
  }
  for (const line of [
    ...sh('iptables', ['-w', '5', '-S']).split('\n'),
    ...sh('iptables', ['-w', '5', '-t', 'nat', '-S']).split('\n'),
  ]) {
    const m = /^-N (THAW-(?:IN|FW|NAT)-th[0-9a-f]{6})$/.exec(line);
    if (m) found.push(`iptables chain ${m[1]}`);
  }
  // IPv6 is dropped per bridge by plain rules (firewall.ts), not chains: they name the bridge.
  for (const line of sh('ip6tables', ['-w', '5', '-S']).split('\n')) {
    const m = /^-A (?:INPUT|FORWARD) -[io] (th[0-9a-f]{6}) -j DROP$/.exec(line);
    if (m) found.push(`ip6tables rule for bridge ${m[1]}`);
  }
  for (const d of readdirSync('/run')) if (scratch.test(d)) found.push(`folder /run/${d}`);
  for (const d of readdirSync('/tmp')) if (/^thaw-[a-z0-9]+-/.test(d)) found.push(`folder /tmp/${d}`);
  for (const proc of ['nats-server', 'redis-server', 'docker-registry']) {
    const pids = sh('pgrep', ['-x', proc]).trim();
    if (pids) found.push(`process ${proc} (${pids.split('\n').join(', ')})`);
  }
  return found;
}
