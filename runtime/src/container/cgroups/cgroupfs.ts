import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { V1Handle, V2Handle } from './handles.js';
import { removeCgroupDirs } from './remove.js';
import type { CgroupDriver } from './types.js';

export const CGROUP_ROOT = '/sys/fs/cgroup';

/** The v1 hierarchies the OCI runtime makes a container's cgroup in (each where mounted). */
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

/**
 * The OCI runtime writes cgroupfs itself: container `id` is `/<parent>/<id>` in every hierarchy.
 * Pure v2 hosts have cgroup.controllers at the root. Hybrid hosts (v1 controllers plus a v2 tree
 * at <root>/unified) are driven like v1: that is where the runtime puts the limits and the
 * freezer, the unified tree holds no controllers.
 */
export interface CgroupfsDriverOptions {
  /** Where the cgroup hierarchies are mounted (default /sys/fs/cgroup); tests pass a fake tree. */
  root?: string;
  /** Removes one cgroup directory; tests pass a fake. */
  rmdir?: (dir: string) => void;
}

export function cgroupfsDriver(opts: CgroupfsDriverOptions = {}): CgroupDriver {
  const root = opts.root ?? CGROUP_ROOT;
  const pathOf = (parent: string, id: string) => `/${parent}/${id}`;
  let driver: Pick<CgroupDriver, 'kind' | 'open' | 'parentDirs'>;
  if (existsSync(join(root, 'cgroup.controllers'))) {
    driver = {
      kind: 'v2',
      open: (parent, id) => new V2Handle(join(root, pathOf(parent, id))),
      parentDirs: (parent) => [join(root, parent)],
    };
  } else if (existsSync(join(root, 'freezer'))) {
    driver = {
      kind: 'v1',
      open: (parent, id) => new V1Handle(root, pathOf(parent, id)),
      parentDirs: (parent) =>
        [...V1_CONTROLLERS.map((c) => join(root, c, parent)), join(root, 'unified', parent)].filter((d) =>
          existsSync(d),
        ),
    };
  } else {
    throw new Error('no cgroup freezer found: thaw needs cgroup v2, or the v1 freezer controller mounted');
  }
  return {
    ...driver,
    manager: 'cgroupfs',
    pathOf,
    remove: (parent, id) => removeCgroupDirs(driver.parentDirs(join(parent, id)), opts.rmdir),
    removeParent: (parent) => removeCgroupDirs(driver.parentDirs(parent), opts.rmdir),
  };
}
