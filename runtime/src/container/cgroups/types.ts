export class FreezeTimeoutError extends Error {
  override readonly name = 'FreezeTimeoutError';
}

export interface CgroupStats {
  /** CPU time used, in nanoseconds. */
  cpuNs: number;
  memoryBytes: number;
  /** Highest memory use seen; 0 where the kernel does not tell (v2 before 5.19). */
  memoryPeakBytes: number;
}

/**
 * Freezer and accounting of one container's cgroup. The OCI runtime creates the cgroups; the
 * freezer file is written directly, because a write is tens of microseconds where `runc pause`
 * costs a process spawn.
 */
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

/** Who makes the containers' cgroups: the OCI runtime writing cgroupfs, or systemd (pure v2). */
export type CgroupManager = 'cgroupfs' | 'systemd';

/**
 * One way of laying out containers' cgroups: the path format the OCI spec gets, where the
 * directories end up, and how they are removed.
 */
export interface CgroupDriver {
  readonly kind: 'v1' | 'v2';
  readonly manager: CgroupManager;
  /** The OCI spec's linux.cgroupsPath for container `id` under `parent`. */
  pathOf(parent: string, id: string): string;
  /** Handle for the cgroup the OCI runtime made for container `id` under `parent`. */
  open(parent: string, id: string): CgroupHandle;
  /** Directories that hold containers' cgroups under `parent`, for residue and cleanup. */
  parentDirs(parent: string): string[];
  /** Removes what is left of container `id`'s cgroups once it is deleted; one in use stays. */
  remove(parent: string, id: string): Promise<void>;
  /** Removes `parent` itself once no container is left in it. */
  removeParent(parent: string): Promise<void>;
}
