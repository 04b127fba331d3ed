import { realpathSync } from 'node:fs';
import { dirEntries, libraryEntries, sharedLibraries, userEntries } from './libs.js';
import type { ImageDefinition, LayerEntry } from './writer.js';

/** The machine's node binary and every shared object it loads, at the paths it loads them from. */
export function nodeBaseLayer(): LayerEntry[] {
  const node = realpathSync(process.execPath);
  const dirs = new Set<string>(['tmp', 'usr', 'usr/local', 'usr/local/bin', 'etc']);
  const entries: LayerEntry[] = [{ path: 'usr/local/bin/node', type: 'file', mode: 0o755, source: node }];
  entries.push(...libraryEntries(sharedLibraries([node]), dirs));
  entries.push(...dirEntries(dirs), ...userEntries());
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
