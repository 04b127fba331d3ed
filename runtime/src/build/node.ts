import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import type { ImageDefinition, LayerEntry } from './writer.js';

/** The machine's node binary and every shared object it loads, at the paths it loads them from. */
export function nodeBaseLayer(): LayerEntry[] {
  const node = realpathSync(process.execPath);
  const ldd = execFileSync('ldd', [node], { encoding: 'utf8' });
  const libs = new Set<string>();
  for (const line of ldd.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1]) libs.add(m[1]);
  }
  const dirs = new Set<string>(['tmp', 'usr', 'usr/local', 'usr/local/bin', 'etc']);
  const entries: LayerEntry[] = [{ path: 'usr/local/bin/node', type: 'file', mode: 0o755, source: node }];
  for (const lib of libs) {
    const rel = lib.slice(1);
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    // The real file at the path the loader asks for: no symlink chains to get wrong.
    entries.push({ path: rel, type: 'file', mode: 0o755, source: realpathSync(lib) });
  }
  for (const d of dirs) entries.push({ path: d, type: 'dir', mode: d === 'tmp' ? 0o1777 : 0o755 });
  entries.push(
    {
      path: 'etc/passwd',
      type: 'file',
      mode: 0o644,
      content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/app:/bin/sh\n',
    },
    { path: 'etc/group', type: 'file', mode: 0o644, content: 'root:x:0:\napp:x:1000:\n' },
  );
  return entries;
}

/** An image running `server.mjs` (or another entry file under /app) with the machine's node. */
export function nodeImage(appFiles: LayerEntry[], entry = '/app/server.mjs'): ImageDefinition {
  return {
    layers: [
      { entries: nodeBaseLayer() },
      { entries: [{ path: 'app', type: 'dir', mode: 0o755 }, ...appFiles], gzip: true },
    ],
    config: {
      Entrypoint: ['/usr/local/bin/node', entry],
      Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'PORT=8080'],
      WorkingDir: '/app',
      ExposedPorts: { '8080/tcp': {} },
    },
  };
}
