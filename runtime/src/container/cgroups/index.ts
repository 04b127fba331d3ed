import { cgroupfsDriver } from './cgroupfs.js';
import { systemdDriver } from './systemd.js';
import type { CgroupDriver, CgroupManager } from './types.js';

export { CGROUP_ROOT, type CgroupfsDriverOptions, cgroupfsDriver } from './cgroupfs.js';
export { DEFAULT_FREEZE_TIMEOUT_MS, V1Handle, V2Handle } from './handles.js';
export { removeCgroupDirs } from './remove.js';
export { type SystemdDriverOptions, sliceDir, systemdDriver } from './systemd.js';
export type { CgroupDriver, CgroupHandle, CgroupManager, CgroupStats } from './types.js';
export { FreezeTimeoutError } from './types.js';

/** The cgroup driver for `manager` on this host (cgroupfs: v2, else v1, hybrid hosts too). */
export function createCgroupDriver(manager: CgroupManager = 'cgroupfs'): CgroupDriver {
  return manager === 'systemd' ? systemdDriver() : cgroupfsDriver();
}
