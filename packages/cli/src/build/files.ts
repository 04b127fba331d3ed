import { existsSync, lstatSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import type { LayerEntry } from '@thaw/runtime/build';
import { UsageError } from './errors.js';

const SKIP = new Set(['.git', '.thaw', '.DS_Store', '__pycache__']);
/** Marks a symlink in a file list. */
export const LINK = 'symlink:';

/**
 * The files of a function directory (relative paths, sorted; symlinks, kept as links, last and
 * marked `symlink:`), without VCS folders, thaw's own folder, bytecode caches and `skip`.
 */
export function listFiles(dir: string, skip: string[] = []): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`${dir} is not a directory`);
  const files: string[] = [];
  const links: string[] = [];
  const skipped = new Set(skip.map((p) => resolve(p)));
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (SKIP.has(name)) continue;
      const full = join(d, name);
      if (skipped.has(resolve(full))) continue;
      // lstat: a symlink is kept as a link, never followed (it could point at anything here).
      const st = lstatSync(full);
      const rel = relative(dir, full).split(sep).join('/');
      if (st.isSymbolicLink()) links.push(rel);
      else if (st.isDirectory()) walk(full);
      else if (st.isFile()) files.push(rel);
    }
  };
  walk(dir);
  return [...files, ...links.map((l) => `${LINK}${l}`)];
}

/** Layer entries putting `files` of `dir` under /app, modes kept as 0755 or 0644. */
export function appEntries(dir: string, files: string[]): LayerEntry[] {
  const entries: LayerEntry[] = [];
  const dirs = new Set<string>();
  for (const item of files) {
    const link = item.startsWith(LINK);
    const f = link ? item.slice(LINK.length) : item;
    const parts = f.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(`app/${parts.slice(0, i).join('/')}`);
    if (link) {
      entries.push({ path: `app/${f}`, type: 'symlink', target: readlinkSync(join(dir, f)) });
      continue;
    }
    const mode = statSync(join(dir, f)).mode & 0o111 ? 0o755 : 0o644;
    entries.push({ path: `app/${f}`, type: 'file', mode, source: join(dir, f) });
  }
  for (const d of [...dirs].sort()) entries.push({ path: d, type: 'dir', mode: 0o755 });
  return entries;
}
