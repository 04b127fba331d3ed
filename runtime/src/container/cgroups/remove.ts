import { rmdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Removes empty cgroup directories (deepest first); a directory still in use stays. `rmdir` is
 * the kernel's (cgroupfs removes a cgroup with its files); tests pass a fake.
 */
export async function removeCgroupDirs(
  dirs: string[],
  rmdir: (dir: string) => void = rmdirSync,
): Promise<void> {
  for (const dir of dirs) {
    try {
      const children = (await readFile(join(dir, 'cgroup.procs'), 'utf8')).trim();
      if (children) continue;
      rmdir(dir);
    } catch {
      // Already gone, or still has children: both fine for cleanup.
    }
  }
}
