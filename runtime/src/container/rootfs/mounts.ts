import { readFile } from 'node:fs/promises';
import { run } from '../../process/index.js';

/** Mounts `layers` (bottom first) read-only under a private upper dir at `target`. */
export async function mountOverlay(
  layers: string[],
  upper: string,
  work: string,
  target: string,
): Promise<void> {
  if (layers.length === 0) throw new Error('an image needs at least one layer');
  // overlayfs wants the top layer first.
  const lower = [...layers].reverse().join(':');
  const options = `lowerdir=${lower},upperdir=${upper},workdir=${work}`;
  if (options.length > 4000) {
    throw new Error(`image has too many layers for one overlay mount (${layers.length})`);
  }
  await run('mount', ['-t', 'overlay', 'overlay', '-o', options, target]);
}

/**
 * A tmpfs of `sizeMiB` at `target`, to hold an overlay's upper and work dirs: what an instance
 * writes to its root filesystem then ends at ENOSPC instead of on the host's disk. Its pages are
 * charged to the memory cgroup of the process that writes them, so they count against the
 * instance's memory limit as well (see CreateOptions.diskMiB).
 */
export async function mountTmpfs(target: string, sizeMiB: number): Promise<void> {
  await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0700`, 'thaw-disk', target]);
}

export async function unmount(target: string): Promise<void> {
  try {
    await run('umount', [target]);
  } catch (err) {
    const msg = (err as Error).message;
    if (/not mounted|no mount point|not found|No such file/i.test(msg)) return;
    // Busy only if something outside still looks in; detach it so the instance's files go.
    await run('umount', ['-l', target]);
  }
}

/** Every mount point of this process's mount namespace. */
export async function mountPoints(): Promise<string[]> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return mounts.split('\n').map((line) => line.split(' ')[1] ?? '');
}

export async function isMounted(target: string): Promise<boolean> {
  return (await mountPoints()).includes(target);
}
