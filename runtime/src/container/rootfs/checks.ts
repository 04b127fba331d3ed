import { chmod, lstat, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ContainerStartError } from '../errors.js';

/**
 * Lets any user pass (not list) the folders from / down to `dir`, as runc needs to reach a
 * bundle's rootfs as container root, a host user of its own: the runtime's own folders from
 * `own` down get o+x, and an ancestor above them without it is an error to fix on the host.
 */
export async function openPathTo(dir: string, own: string): Promise<void> {
  for (let d = dir; ; d = dirname(d)) {
    const st = await stat(d);
    if (!(st.mode & 0o001)) {
      if (d.length < own.length) {
        throw new Error(
          `userns: container root cannot pass ${d} (mode ${(st.mode & 0o777).toString(8)}) on the way to ${dir}; give it o+x or choose another stateDir`,
        );
      }
      await chmod(d, (st.mode & 0o7777) | 0o001);
    }
    if (d === dirname(d)) return;
  }
}

/** /proc, /sys and /dev get mounted over: as symlinks they would point runc's mounts elsewhere. */
export async function checkRootfs(rootfs: string): Promise<void> {
  for (const d of ['proc', 'sys', 'dev']) {
    const st = await lstat(join(rootfs, d)).catch(() => undefined);
    if (st && !st.isDirectory()) {
      throw new ContainerStartError(
        `the image's /${d} is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}; refused`,
        '',
      );
    }
  }
}
