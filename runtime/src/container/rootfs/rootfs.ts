import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { INIT_PATH } from '../spec/spec.js';
import { mountOverlay, mountTmpfs } from './mounts.js';
import { type ShiftedLayers, shiftTree, type UsernsMapping } from './userns.js';

export interface RootfsOptions {
  /** The image's layer folders, bottom first. */
  layers: string[];
  /** Where the tmpfs holding the writable layer is mounted. */
  disk: string;
  diskMiB: number;
  /** Where the root filesystem is mounted. */
  rootfs: string;
  /** With a user namespace: the mapping, and the layers' copies owned by it. */
  userns?: { mapping: Required<UsernsMapping>; layers: ShiftedLayers };
}

/**
 * The root filesystem: the image's layers under a writable layer kept on a tmpfs of `diskMiB`
 * at `disk` (upper and work dirs both, as overlayfs needs them on one filesystem), with the
 * init's mount point made in the upper dir before the overlay goes up.
 */
export async function mountRootfs(o: RootfsOptions): Promise<void> {
  const shifted = o.userns?.layers;
  const [lowers] = await Promise.all([
    shifted ? Promise.all(o.layers.map((l) => shifted.get(l))) : o.layers,
    mountTmpfs(o.disk, o.diskMiB),
  ]);
  const upper = join(o.disk, 'upper');
  const initPoint = join(upper, INIT_PATH);
  await mkdir(dirname(initPoint), { recursive: true, mode: 0o755 });
  await writeFile(initPoint, '', { mode: 0o555 });
  await mkdir(join(o.disk, 'work'));
  // The rootfs's own directory takes its owner from the upper dir: container root must own it.
  if (o.userns) await shiftTree(upper, o.userns.mapping);
  await mountOverlay(lowers, upper, join(o.disk, 'work'), o.rootfs);
}
