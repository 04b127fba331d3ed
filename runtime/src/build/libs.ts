import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import type { LayerEntry } from './writer.js';

/**
 * The shared objects the loader maps for each of `binaries`, at the paths it asks for them
 * (from ldd), sorted. A binary ldd cannot read (a static one) adds none.
 */
export function sharedLibraries(binaries: string[]): string[] {
  const libs = new Set<string>();
  for (const bin of binaries) {
    let out: string;
    try {
      out = execFileSync('ldd', [bin], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      continue; // "not a dynamic executable": nothing to add
    }
    for (const line of out.split('\n')) {
      const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
      if (m?.[1]) libs.add(m[1]);
    }
  }
  return [...libs].sort();
}

/**
 * Layer entries for host libraries: the real file at the path the loader asks for (no symlink
 * chains to get wrong); their parent folders are added to `dirs`.
 */
export function libraryEntries(libs: Iterable<string>, dirs: Set<string>): LayerEntry[] {
  const entries: LayerEntry[] = [];
  for (const lib of libs) {
    const rel = lib.slice(1);
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    entries.push({ path: rel, type: 'file', mode: 0o755, source: realpathSync(lib) });
  }
  return entries;
}

/** /etc/passwd and /etc/group with root and an unprivileged "app" user (uid/gid 1000). */
export function userEntries(): LayerEntry[] {
  return [
    {
      path: 'etc/passwd',
      type: 'file',
      mode: 0o644,
      content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/app:/bin/sh\n',
    },
    { path: 'etc/group', type: 'file', mode: 0o644, content: 'root:x:0:\napp:x:1000:\n' },
  ];
}

/** Directory entries for `dirs`: /tmp sticky and world-writable, the others 0755. */
export function dirEntries(dirs: Iterable<string>): LayerEntry[] {
  return [...dirs].map((d) => ({ path: d, type: 'dir', mode: d === 'tmp' ? 0o1777 : 0o755 }));
}
