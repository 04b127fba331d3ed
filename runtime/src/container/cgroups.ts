import { closeSync, existsSync, openSync, readFileSync, rmdirSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export class FreezeTimeoutError extends Error {
  override readonly name = 'FreezeTimeoutError';
}

/**
 * Freezer and cgroup bookkeeping for one container. runc creates the cgroups (cgroupfs driver);
 * we only write the freezer file directly, because a write is tens of microseconds where
 * `runc pause` costs a process spawn.
 */
export interface CgroupStats {
  /** CPU time used, in nanoseconds. */
  cpuNs: number;
  memoryBytes: number;
  /** Highest memory use seen; 0 where the kernel does not tell (v2 before 5.19). */
  memoryPeakBytes: number;
}

export interface CgroupHandle {
  stats(): CgroupStats;
  /** How many processes the kernel's OOM killer has killed in this cgroup. */
  oomKills(): number;
  freeze(timeoutMs?: number): Promise<void>;
  /** Synchronous: thawing is immediate in both v1 and v2, and it is on the request path. */
  thaw(): void;
  isFrozen(): boolean;
  close(): void;
}

export interface CgroupDriver {
  readonly kind: 'v1' | 'v2';
  /** Handle for the cgroup runc made for `cgroupsPath` (e.g. "/thaw/abc"). */
  open(cgroupsPath: string): CgroupHandle;
  /** Directories that hold containers' cgroups under `parent`, for cleanup. */
  parentDirs(parent: string): string[];
}

const ROOT = '/sys/fs/cgroup';
const V1_CONTROLLERS = [
  'freezer',
  'memory',
  'pids',
  'cpu',
  'cpuacct',
  'cpuset',
  'devices',
  'blkio',
  'systemd',
];

class FdFile {
  private fd: number;
  constructor(readonly path: string) {
    this.fd = openSync(path, 'r+');
  }
  write(value: string): void {
    writeSync(this.fd, value, 0);
  }
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  let delay = 0;
  while (performance.now() < deadline) {
    if (check()) return true;
    await sleep(delay);
    delay = Math.min(delay + 1, 10);
  }
  return check();
}

function readNumber(path: string): number {
  try {
    return Number(readFileSync(path, 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}

/** The v2 freezer of one cgroup directory (exported for tests on hybrid hosts' unified tree). */
export class V2Handle implements CgroupHandle {
  private readonly freezeFile: FdFile;
  constructor(private readonly dir: string) {
    this.freezeFile = new FdFile(join(dir, 'cgroup.freeze'));
  }
  oomKills(): number {
    const events = readFileSync(join(this.dir, 'memory.events'), 'utf8');
    return Number(/^oom_kill (\d+)$/m.exec(events)?.[1] ?? 0);
  }
  stats(): CgroupStats {
    const cpu = /usage_usec (\d+)/.exec(readFileSync(join(this.dir, 'cpu.stat'), 'utf8'));
    return {
      cpuNs: Number(cpu?.[1] ?? 0) * 1000,
      memoryBytes: readNumber(join(this.dir, 'memory.current')),
      memoryPeakBytes: readNumber(join(this.dir, 'memory.peak')),
    };
  }
  isFrozen(): boolean {
    return /^frozen 1$/m.test(readFileSync(join(this.dir, 'cgroup.events'), 'utf8'));
  }
  async freeze(timeoutMs = 2000): Promise<void> {
    this.freezeFile.write('1');
    if (!(await waitFor(() => this.isFrozen(), timeoutMs))) {
      this.freezeFile.write('0');
      throw new FreezeTimeoutError(`cgroup ${this.dir} did not freeze within ${timeoutMs} ms`);
    }
  }
  thaw(): void {
    this.freezeFile.write('0');
  }
  close(): void {
    this.freezeFile.close();
  }
}

class V1Handle implements CgroupHandle {
  private readonly state: FdFile;
  private readonly dir: string;
  constructor(private readonly path: string) {
    this.dir = join(ROOT, 'freezer', path);
    this.state = new FdFile(join(this.dir, 'freezer.state'));
  }
  oomKills(): number {
    const control = readFileSync(join(ROOT, 'memory', this.path, 'memory.oom_control'), 'utf8');
    return Number(/^oom_kill (\d+)$/m.exec(control)?.[1] ?? 0);
  }
  stats(): CgroupStats {
    return {
      cpuNs: readNumber(join(ROOT, 'cpuacct', this.path, 'cpuacct.usage')),
      memoryBytes: readNumber(join(ROOT, 'memory', this.path, 'memory.usage_in_bytes')),
      memoryPeakBytes: readNumber(join(ROOT, 'memory', this.path, 'memory.max_usage_in_bytes')),
    };
  }
  isFrozen(): boolean {
    return readFileSync(join(this.dir, 'freezer.state'), 'utf8').trim() === 'FROZEN';
  }
  async freeze(timeoutMs = 2000): Promise<void> {
    // A v1 freezer can stay in FREEZING when a task is in an uninterruptible sleep; thawing
    // and trying again is what runc does too.
    for (let attempt = 0; attempt < 3; attempt++) {
      this.state.write('FROZEN');
      if (await waitFor(() => this.isFrozen(), timeoutMs / 3)) return;
      this.state.write('THAWED');
      await sleep(2);
    }
    throw new FreezeTimeoutError(`cgroup ${this.dir} stayed FREEZING for ${timeoutMs} ms`);
  }
  thaw(): void {
    this.state.write('THAWED');
  }
  close(): void {
    this.state.close();
  }
}

/**
 * Pure v2 hosts have cgroup.controllers at the root. Hybrid hosts (v1 controllers plus a v2
 * tree at /sys/fs/cgroup/unified) are driven like v1: that is where runc puts the limits and
 * the freezer, the unified tree holds no controllers.
 */
export function detectCgroupDriver(): CgroupDriver {
  if (existsSync(join(ROOT, 'cgroup.controllers'))) {
    return {
      kind: 'v2',
      open: (path) => new V2Handle(join(ROOT, path)),
      parentDirs: (parent) => [join(ROOT, parent)],
    };
  }
  if (existsSync(join(ROOT, 'freezer'))) {
    return {
      kind: 'v1',
      open: (path) => new V1Handle(path),
      parentDirs: (parent) =>
        [...V1_CONTROLLERS.map((c) => join(ROOT, c, parent)), join(ROOT, 'unified', parent)].filter((d) =>
          existsSync(d),
        ),
    };
  }
  throw new Error('no cgroup freezer found: thaw needs cgroup v2, or the v1 freezer controller mounted');
}

/** Removes empty cgroup directories (deepest first); a directory still in use stays. */
export async function removeCgroupDirs(dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    try {
      const children = (await readFile(join(dir, 'cgroup.procs'), 'utf8')).trim();
      if (children) continue;
      rmdirSync(dir);
    } catch {
      // Already gone, or still has children: both fine for cleanup.
    }
  }
}
