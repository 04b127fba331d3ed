import type { StartPhases } from '@thaw/shared';
import { isRunning, type LogFiles, waitPidExit } from '../process/index.js';
import type { CgroupHandle, CgroupStats } from './cgroups/index.js';
import { LOG_TAIL_BYTES, logPathsOf, readLogs } from './logs.js';

/** How often waitExit looks at the pid. */
const EXIT_POLL_MS = 5;

export type ContainerState = 'running' | 'frozen' | 'destroyed';

export interface ContainerOptions {
  id: string;
  ip: string;
  port: number;
  /** The container's init, as the host sees it. */
  pid: number;
  bundle: string;
  /** Tears the container down on the host (the runtime's remove). */
  remove: (id: string) => Promise<void>;
}

/** One running container: its address, its freezer, its logs, and its teardown. */
export class Container {
  private handle: CgroupHandle | undefined;
  private _state: ContainerState = 'running';
  private destroying: Promise<void> | undefined;

  readonly id: string;
  readonly ip: string;
  readonly port: number;
  readonly pid: number;
  readonly bundle: string;
  /** Where its start went (set by the runtime once it is ready). */
  startPhases: StartPhases | undefined;
  private readonly remove: (id: string) => Promise<void>;

  constructor(o: ContainerOptions) {
    this.id = o.id;
    this.ip = o.ip;
    this.port = o.port;
    this.pid = o.pid;
    this.bundle = o.bundle;
    this.remove = o.remove;
  }

  get state(): ContainerState {
    return this._state;
  }
  /** Files the container's stdout and stderr are appended to. */
  get logPaths(): LogFiles {
    return logPathsOf(this.bundle);
  }

  /** @internal */
  attachCgroup(handle: CgroupHandle): void {
    this.handle = handle;
  }

  async freeze(timeoutMs?: number): Promise<void> {
    if (this._state !== 'running' || !this.handle) return;
    await this.handle.freeze(timeoutMs);
    this._state = 'frozen';
  }

  thaw(): void {
    if (this._state !== 'frozen' || !this.handle) return;
    this.handle.thaw();
    this._state = 'running';
  }

  /**
   * Whether the container's init process still runs. It is not our child (runc detached it),
   * so there is no exit event; a zombie waiting for the host's init to reap it counts as dead.
   */
  isAlive(): boolean {
    return this._state !== 'destroyed' && isRunning(this.pid);
  }

  /** Waits up to `ms` for the process to exit; true when it has. */
  async waitExit(ms: number): Promise<boolean> {
    return this._state === 'destroyed' || (await waitPidExit(this.pid, ms, EXIT_POLL_MS));
  }

  /** True when the kernel killed a process of this container for exceeding its memory limit. */
  oomKilled(): boolean {
    try {
      return (this.handle?.oomKills() ?? 0) > 0;
    } catch {
      return false;
    }
  }

  stats(): CgroupStats {
    return this.handle?.stats() ?? { cpuNs: 0, memoryBytes: 0, memoryPeakBytes: 0 };
  }

  /** The last output: stdout's tail, then stderr's (each up to `maxBytes`). */
  async readLog(maxBytes = LOG_TAIL_BYTES): Promise<string> {
    return readLogs(this.bundle, maxBytes);
  }

  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      try {
        // runc kills frozen containers too, but a thawed one dies without waiting on the freezer.
        if (this._state === 'frozen') this.handle?.thaw();
      } catch {
        // The cgroup is gone already (removed from outside): nothing to thaw.
      }
      this.handle?.close();
      this._state = 'destroyed';
      await this.remove(this.id);
    })();
    return this.destroying;
  }
}
