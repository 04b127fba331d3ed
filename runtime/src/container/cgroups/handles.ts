import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CgroupHandle, type CgroupStats, FreezeTimeoutError } from './types.js';

/** How long a freeze waits for the kernel to report every task frozen. */
export const DEFAULT_FREEZE_TIMEOUT_MS = 2000;
/** v1 freeze attempts within that time (a stuck FREEZING is thawed and tried again). */
const V1_FREEZE_ATTEMPTS = 3;
/** Longest pause between two looks at the freezer state. */
const FREEZE_POLL_MAX_MS = 10;

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
    delay = Math.min(delay + 1, FREEZE_POLL_MAX_MS);
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
  async freeze(timeoutMs = DEFAULT_FREEZE_TIMEOUT_MS): Promise<void> {
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

/** The v1 freezer and accounting of `path` in each controller's hierarchy under `root`. */
export class V1Handle implements CgroupHandle {
  private readonly state: FdFile;
  private readonly dir: string;
  constructor(
    private readonly root: string,
    private readonly path: string,
  ) {
    this.dir = join(root, 'freezer', path);
    this.state = new FdFile(join(this.dir, 'freezer.state'));
  }
  oomKills(): number {
    const control = readFileSync(join(this.root, 'memory', this.path, 'memory.oom_control'), 'utf8');
    return Number(/^oom_kill (\d+)$/m.exec(control)?.[1] ?? 0);
  }
  stats(): CgroupStats {
    return {
      cpuNs: readNumber(join(this.root, 'cpuacct', this.path, 'cpuacct.usage')),
      memoryBytes: readNumber(join(this.root, 'memory', this.path, 'memory.usage_in_bytes')),
      memoryPeakBytes: readNumber(join(this.root, 'memory', this.path, 'memory.max_usage_in_bytes')),
    };
  }
  isFrozen(): boolean {
    return readFileSync(join(this.dir, 'freezer.state'), 'utf8').trim() === 'FROZEN';
  }
  async freeze(timeoutMs = DEFAULT_FREEZE_TIMEOUT_MS): Promise<void> {
    // A v1 freezer can stay in FREEZING when a task is in an uninterruptible sleep; thawing
    // and trying again is what runc does too.
    for (let attempt = 0; attempt < V1_FREEZE_ATTEMPTS; attempt++) {
      this.state.write('FROZEN');
      if (await waitFor(() => this.isFrozen(), timeoutMs / V1_FREEZE_ATTEMPTS)) return;
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
