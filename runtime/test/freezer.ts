import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupDriver } from '../src/index.js';

/**
 * A container's freezer state read straight from the host's cgroup files, not through the
 * runtime's handle: v1's freezer.state (FREEZING counts as not frozen), or v2's cgroup.events.
 */
export function frozenOnHost(cgroups: CgroupDriver, cgroupParent: string, id: string): boolean {
  if (cgroups.kind === 'v1') {
    const state = readFileSync(join('/sys/fs/cgroup/freezer', cgroupParent, id, 'freezer.state'), 'utf8');
    return state.trim() === 'FROZEN';
  }
  return /^frozen 1$/m.test(readFileSync(join('/sys/fs/cgroup', cgroupParent, id, 'cgroup.events'), 'utf8'));
}
