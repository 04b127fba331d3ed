import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, lchown, lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { run } from '../../process/index.js';

/**
 * Container ids 0..size-1 are host ids hostId..hostId+size-1, for users and groups alike. Root in
 * the container is then an unprivileged user on the host: an escape lands as uid `hostId`.
 */
export interface UsernsMapping {
  hostId: number;
  /** How many ids are mapped (default 65536). */
  size?: number;
}

export const DEFAULT_USERNS_SIZE = 65536;

export function checkMapping(m: UsernsMapping): Required<UsernsMapping> {
  const size = m.size ?? DEFAULT_USERNS_SIZE;
  if (!Number.isInteger(m.hostId) || m.hostId < 1 || !Number.isInteger(size) || size < 1) {
    throw new Error(`userns: hostId and size must be positive integers, got ${m.hostId} and ${size}`);
  }
  if (m.hostId + size > 2 ** 32 - 1) throw new Error('userns: the mapped range passes the largest uid');
  return { hostId: m.hostId, size };
}

/** A container id on the host; ids the range does not hold become its "nobody" (65534, or the last). */
function shift(id: number, m: Required<UsernsMapping>): number {
  if (id < m.size) return m.hostId + id;
  return m.hostId + Math.min(65534, m.size - 1);
}

/**
 * Owns `path` and everything under it by the mapped ids: every entry's owner moves into the
 * range. chown clears setuid/setgid bits of executables, so those are put back.
 */
export async function shiftTree(path: string, m: Required<UsernsMapping>): Promise<void> {
  const st = await lstat(path);
  await lchown(path, shift(st.uid, m), shift(st.gid, m));
  if (st.isFile() && st.mode & 0o6000) await chmod(path, st.mode & 0o7777);
  if (!st.isDirectory()) return;
  for (const name of await readdir(path)) await shiftTree(join(path, name), m);
}

/**
 * Copies of image layers owned by the mapped ids, one per layer, made on first use and shared
 * by every container of this runtime (one range per runtime, so one copy fits all).
 *
 * A container in a user namespace sees host ids outside its range as nobody: on the original
 * root-owned layers its root could not write to /app or /etc, copy up or chown anything. The
 * kernel's answer is an idmapped mount of each layer (overlayfs accepts idmapped lower layers
 * since 5.19), but neither runc 1.1 nor util-linux 2.38 (`mount` has no X-mount.idmap before
 * 2.39) can make one, and Node has no mount_setattr; a shifted copy costs disk and one copy per
 * layer, and nothing per container.
 */
export class ShiftedLayers {
  private readonly made = new Map<string, Promise<string>>();

  constructor(
    private readonly dir: string,
    private readonly mapping: Required<UsernsMapping>,
  ) {}

  /** The shifted copy of `layer`, made now if this runtime has none yet. */
  get(layer: string): Promise<string> {
    let p = this.made.get(layer);
    if (!p) {
      p = this.make(layer);
      this.made.set(layer, p);
      // A failed copy is tried again by the next container, not remembered.
      p.catch(() => this.made.delete(layer));
    }
    return p;
  }

  private async make(layer: string): Promise<string> {
    // The layer folder's name is its diffID's hex (ImageStore): unique, and stable for a restart.
    const dest = join(this.dir, basename(layer));
    if (existsSync(dest)) return dest;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${dest}.tmp-${randomBytes(4).toString('hex')}`;
    try {
      // cp -a keeps hardlinks, modes, the overlay's whiteout devices and opaque xattrs.
      await run('cp', ['-a', '--reflink=auto', layer, tmp], { timeoutMs: 600_000 });
      await shiftTree(tmp, this.mapping);
      await rename(tmp, dest);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      // Another runtime process on the same state made it first.
      if (existsSync(dest)) return dest;
      throw err;
    }
    return dest;
  }

  /**
   * Removes every copy. Only while no container of this runtime runs (open, close): a copy is
   * a lower layer of every mounted rootfs that uses it. Copies of layers the image store has
   * removed since stay until then.
   */
  async clear(): Promise<void> {
    this.made.clear();
    await rm(this.dir, { recursive: true, force: true });
  }
}
