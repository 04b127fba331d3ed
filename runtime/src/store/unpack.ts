import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { chmod, chown, lchown, link, lstat, mkdir, open, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract, type Header as Headers } from 'tar-stream';
import { outputStream, run } from '../process/index.js';
import { ImageDigestMismatchError, ImageInvalidError, UnsafeLayerEntryError } from './errors.js';
import { entryComponents } from './paths.js';

export interface UnpackOptions {
  /** sha256 hex the uncompressed layer must hash to (its diffID). */
  diffId: string;
  /** Stop a decompression bomb: most bytes of file content one layer may unpack to. */
  maxBytes: number;
}

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

async function magic(path: string): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(4);
    await fh.read(buf, 0, 4, 0);
    return buf;
  } finally {
    await fh.close();
  }
}

/**
 * Node 20's zlib has no zstd: the `zstd` tool (Debian's package, installed by infra/setup.sh)
 * decompresses, and a non-zero exit fails the stream.
 */
function zstdDecompress(path: string): Readable {
  return outputStream('zstd', ['-dc', '--no-progress', path], {
    cannotStart: (message) => new ImageInvalidError(`cannot run zstd: ${message}`),
    failed: (stderr) => new ImageInvalidError(`zstd layer does not decompress: ${stderr}`),
  });
}

/** Whether `dir/parts[0]/.../parts[n-1]` exists, refusing to pass through any symlink. */
async function lstatInside(root: string, parts: string[]) {
  let cur = root;
  for (let i = 0; i < parts.length; i++) {
    cur = join(cur, parts[i] as string);
    const st = await lstat(cur).catch(() => undefined);
    if (!st) return { path: join(root, ...parts), stat: undefined };
    if (i < parts.length - 1 && !st.isDirectory()) {
      throw new UnsafeLayerEntryError(
        `layer entry "${parts.join('/')}" goes through "${parts.slice(0, i + 1).join('/')}", which is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}`,
      );
    }
    if (i === parts.length - 1) return { path: cur, stat: st };
  }
  return { path: root, stat: await lstat(root) };
}

/** Creates missing parent directories inside root, never following a symlink. */
async function ensureParents(root: string, parts: string[]): Promise<void> {
  let cur = root;
  for (let i = 0; i < parts.length - 1; i++) {
    cur = join(cur, parts[i] as string);
    const st = await lstat(cur).catch(() => undefined);
    if (!st) await mkdir(cur, { mode: 0o755 });
    else if (!st.isDirectory()) {
      throw new UnsafeLayerEntryError(
        `layer entry "${parts.join('/')}" goes through "${parts.slice(0, i + 1).join('/')}", which is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}`,
      );
    }
  }
}

/**
 * Unpacks one layer blob into `root` (a fresh directory) in overlayfs form, verifying its
 * diffID on the way. Safety rules:
 * - absolute names and ".." are refused; no write ever goes through a symlink (every parent
 *   is lstat'ed and files are opened O_NOFOLLOW | O_EXCL);
 * - hardlink targets must be regular files inside this layer, reached without symlinks;
 * - whiteouts become 0:0 character devices, opaque markers the trusted.overlay.opaque xattr;
 * - device nodes and fifos are skipped: a function has no business shipping them, and /dev
 *   is a fresh tmpfs in every container anyway;
 * - ownership and mode (setuid included) are kept as the image has them.
 */
export async function unpackLayer(blobPath: string, root: string, o: UnpackOptions): Promise<void> {
  const m = await magic(blobPath);
  const gz = GZIP_MAGIC.every((b, i) => m[i] === b);
  const zstd = ZSTD_MAGIC.every((b, i) => m[i] === b);
  const hash = createHash('sha256');
  let total = 0;
  const tee = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      total += chunk.length;
      if (total > o.maxBytes * 1.1 + 1024 * 1024)
        cb(new ImageInvalidError(`layer unpacks to more than ${o.maxBytes} bytes`));
      else cb(null, chunk);
    },
  });
  await mkdir(root, { recursive: true });
  const ex = extract();
  const source = zstd
    ? pipeline(zstdDecompress(blobPath), tee, ex)
    : gz
      ? pipeline(createReadStream(blobPath), createGunzip(), tee, ex)
      : pipeline(createReadStream(blobPath), tee, ex);
  source.catch(() => undefined);
  const dirModes: { path: string; h: Headers }[] = [];
  let content = 0;
  try {
    for await (const entry of ex) {
      const h = entry.header;
      content += h.size ?? 0;
      if (content > o.maxBytes) throw new ImageInvalidError(`layer unpacks to more than ${o.maxBytes} bytes`);
      const dir = await writeEntry(root, h, entry as unknown as NodeJS.ReadableStream, dirModes);
      if (!dir) entry.resume();
    }
    await source;
  } catch (err) {
    if (err instanceof ImageInvalidError) throw err;
    throw new ImageInvalidError(
      `layer ${o.diffId.slice(0, 12)} is not a valid tar: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const got = hash.digest('hex');
  if (got !== o.diffId) {
    throw new ImageDigestMismatchError(
      `layer diffID mismatch: the config says sha256:${o.diffId}, the content is sha256:${got}`,
    );
  }
  // Directory modes last, deepest first: a 0555 directory must still take its children.
  for (const d of dirModes.reverse()) {
    await chown(d.path, d.h.uid ?? 0, d.h.gid ?? 0);
    await chmod(d.path, (d.h.mode ?? 0o755) & 0o7777);
  }
}

/** Returns true when it consumed the entry's data itself. */
async function writeEntry(
  root: string,
  h: Headers,
  entry: NodeJS.ReadableStream,
  dirModes: { path: string; h: Headers }[],
): Promise<boolean> {
  const parts = entryComponents(h.name);
  if (parts.length === 0) {
    if (h.type === 'directory') dirModes.push({ path: root, h });
    return false;
  }
  const base = parts[parts.length - 1] as string;
  if (base.startsWith('.wh.')) {
    await ensureParents(root, parts);
    const parent = join(root, ...parts.slice(0, -1));
    if (base === '.wh..wh..opq') {
      await run('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', parent]);
      return false;
    }
    const target = base.slice(4);
    if (!target || target === '.' || target === '..' || target.startsWith('.wh.')) {
      throw new UnsafeLayerEntryError(`invalid whiteout entry "${h.name}"`);
    }
    const victim = join(parent, target);
    await rm(victim, { recursive: true, force: true });
    await run('mknod', ['-m', '0', victim, 'c', '0', '0']);
    return false;
  }
  await ensureParents(root, parts);
  const { path, stat } = await lstatInside(root, parts);
  const mode = (h.mode ?? 0o644) & 0o7777;
  switch (h.type) {
    case 'directory': {
      if (stat && !stat.isDirectory()) await rm(path, { force: true });
      if (!stat?.isDirectory()) await mkdir(path, { mode: 0o755 });
      dirModes.push({ path, h });
      return false;
    }
    case 'file':
    case 'contiguous-file': {
      if (stat) await rm(path, { recursive: true, force: true });
      const fh = await open(
        path,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o600,
      );
      try {
        for await (const chunk of entry as AsyncIterable<Buffer>) await fh.write(chunk);
        await fh.chown(h.uid ?? 0, h.gid ?? 0);
        // After chown: chown clears setuid/setgid, and the image's bits are to be kept.
        await fh.chmod(mode);
      } finally {
        await fh.close();
      }
      return true;
    }
    case 'symlink': {
      if (stat) await rm(path, { recursive: true, force: true });
      await symlink(h.linkname ?? '', path);
      await lchown(path, h.uid ?? 0, h.gid ?? 0);
      return false;
    }
    case 'link': {
      const targetParts = entryComponents(h.linkname ?? '');
      const target = await lstatInside(root, targetParts);
      if (!target.stat?.isFile()) {
        throw new UnsafeLayerEntryError(
          `hardlink "${h.name}" points at "${h.linkname}", which is not a file in this layer`,
        );
      }
      if (stat) await rm(path, { recursive: true, force: true });
      await link(target.path, path);
      return false;
    }
    default:
      // character-device, block-device, fifo and the like: skipped (see above).
      return false;
  }
}
