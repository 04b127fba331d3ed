import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../process/index.js';
import { CGROUP_ROOT } from './cgroupfs.js';
import { V2Handle } from './handles.js';
import { removeCgroupDirs } from './remove.js';
import type { CgroupDriver } from './types.js';

/** The unit name prefix of containers' scopes: container `id` is `thaw-<id>.scope`. */
const SCOPE_PREFIX = 'thaw';

/**
 * Where systemd puts a slice: each dash opens a level, so `a-b-c.slice` is
 * `a.slice/a-b.slice/a-b-c.slice`.
 */
export function sliceDir(slice: string): string {
  const name = slice.replace(/\.slice$/, '');
  const parts = name.split('-');
  return parts.map((_, i) => `${parts.slice(0, i + 1).join('-')}.slice`).join('/');
}

export interface SystemdDriverOptions {
  root?: string;
  /** Runs systemctl; tests pass a fake. */
  run?: typeof run;
  /** Removes one cgroup directory; tests pass a fake. */
  rmdir?: (dir: string) => void;
}

/**
 * systemd makes the cgroups (the OCI runtime runs with `--systemd-cgroup`), as it wants on pure
 * v2 hosts where it owns the tree: `parent` is the slice `<parent>.slice`, and container `id`
 * the scope `thaw-<id>.scope` in it, cgroupsPath "<parent>.slice:thaw:<id>".
 */
export function systemdDriver(opts: SystemdDriverOptions = {}): CgroupDriver {
  const root = opts.root ?? CGROUP_ROOT;
  const exec = opts.run ?? run;
  if (!existsSync(join(root, 'cgroup.controllers'))) {
    throw new Error('the systemd cgroup driver needs a pure cgroup v2 host (cgroup.controllers at the root)');
  }
  const slice = (parent: string) => `${parent}.slice`;
  const parentDir = (parent: string) => join(root, sliceDir(slice(parent)));
  const scopeDir = (parent: string, id: string) => join(parentDir(parent), `${SCOPE_PREFIX}-${id}.scope`);
  return {
    kind: 'v2',
    manager: 'systemd',
    pathOf: (parent, id) => `${slice(parent)}:${SCOPE_PREFIX}:${id}`,
    open: (parent, id) => new V2Handle(scopeDir(parent, id)),
    parentDirs: (parent) => [parentDir(parent)],
    // Deleting the container stops its scope, and systemd removes the directory; one left
    // behind by a crash is removed like cgroupfs's.
    remove: (parent, id) => removeCgroupDirs([scopeDir(parent, id)], opts.rmdir),
    async removeParent(parent) {
      await exec('systemctl', ['stop', slice(parent)]).catch(() => undefined);
      await removeCgroupDirs([parentDir(parent)], opts.rmdir);
    },
  };
}
