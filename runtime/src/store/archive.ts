import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { ImageInvalidError } from './errors.js';
import { entryComponents } from './paths.js';

export interface SpooledFile {
  path: string;
  /** sha256 hex of the bytes as stored in the archive. */
  sha256: string;
  size: number;
}

/** The outer archive's regular files, spooled to disk with their hashes; nothing kept in memory. */
export interface SpooledArchive {
  dir: string;
  files: Map<string, SpooledFile>;
  /**
   * Link entries and their targets as archive paths (resolved against the link's folder), or
   * null when the target would leave the archive. Only `fileAt` follows them, to files.
   */
  links: Map<string, string | null>;
  cleanup(): Promise<void>;
}

export async function spoolArchive(
  source: string | NodeJS.ReadableStream,
  tmpRoot: string,
): Promise<SpooledArchive> {
  const dir = join(tmpRoot, `spool-${randomUUID()}`);
  await mkdir(dir, { recursive: true });
  const files = new Map<string, SpooledFile>();
  const links = new Map<string, string | null>();
  const cleanup = () => rm(dir, { recursive: true, force: true });
  const input = typeof source === 'string' ? (await import('node:fs')).createReadStream(source) : source;
  const ex = extract();
  try {
    const feeding = pipeline(input as Readable, ex);
    // Awaited below; a failure seen first by the loop must not count as unhandled.
    feeding.catch(() => undefined);
    let n = 0;
    for await (const entry of ex) {
      const h = entry.header;
      const name = entryComponents(h.name).join('/');
      if (h.type === 'file' || h.type === 'contiguous-file') {
        const path = join(dir, String(n++));
        const hash = createHash('sha256');
        let size = 0;
        const out = createWriteStream(path);
        await pipeline(
          entry,
          new Transform({
            transform(chunk: Buffer, _enc, cb) {
              hash.update(chunk);
              size += chunk.length;
              cb(null, chunk);
            },
          }),
          out,
        );
        files.set(name, { path, sha256: hash.digest('hex'), size });
      } else {
        if (h.type === 'symlink' || h.type === 'link')
          links.set(name, linkTarget(name, h.linkname ?? '', h.type));
        entry.resume();
      }
    }
    await feeding;
  } catch (err) {
    await cleanup();
    if (err instanceof ImageInvalidError) throw err;
    throw new ImageInvalidError(`the upload is not a readable tar archive: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (files.size === 0) {
    await cleanup();
    throw new ImageInvalidError('the upload is not a tar archive (no files found)');
  }
  return { dir, files, links, cleanup };
}

/** Where a link entry points, as an archive path; null when it points outside the archive. */
function linkTarget(name: string, target: string, type: 'symlink' | 'link'): string | null {
  if (target.startsWith('/')) return null;
  // Symlinks are relative to their folder, hardlinks to the archive root.
  const base = type === 'symlink' ? name.split('/').slice(0, -1) : [];
  const parts: string[] = [];
  for (const p of [...base, ...target.split('/')]) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (parts.length === 0) return null;
      parts.pop();
    } else parts.push(p);
  }
  return parts.join('/');
}
