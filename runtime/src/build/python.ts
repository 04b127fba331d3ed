import { lstatSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { dirEntries, libraryEntries, sharedLibraries, userEntries } from './libs.js';
import { stdlibBytecode } from './python-bytecode.js';
import type { ImageDefinition, LayerEntry } from './writer.js';

/** Debian's interpreter: /usr/bin/python3 is a link to it. */
export const HOST_PYTHON = '/usr/bin/python3';

/**
 * Parts of Debian's stdlib a function never imports: tests, IDLE, ensurepip (pip is not in the
 * image), turtle demos, the static library and Makefile for building extensions, and the test
 * extension modules. The host's bytecode caches are left out too: which of them exist depends on
 * what has run there (the layer's own are compiled afresh: python-bytecode.ts).
 */
const SKIP_DIRS = new Set([
  '__pycache__',
  'test',
  'tests',
  'idle_test',
  'idlelib',
  'ensurepip',
  'turtledemo',
]);
const SKIP_FILE =
  /^(_test.*|_ctypes_test|_xxtestfuzz|xxlimited.*|_xxsubinterpreters)\.cpython-.*\.so$|\.pyc$/;

/** The interpreter's real path and its stdlib folder (e.g. /usr/bin/python3.11, /usr/lib/python3.11). */
export function hostPython(python = HOST_PYTHON): { bin: string; stdlib: string; version: string } {
  const bin = realpathSync(python);
  const version = /^python(\d+\.\d+)$/.exec(basename(bin))?.[1];
  if (!version) throw new Error(`${python} → ${bin}: not a pythonX.Y interpreter`);
  return { bin, stdlib: `/usr/lib/python${version}`, version };
}

/**
 * The host's python3, its stdlib (without the parts above) with bytecode for its common modules,
 * and the shared objects it and the stdlib's extension modules load, at the host's paths: same
 * host packages → same bytes.
 */
export function pythonBaseLayer(python = HOST_PYTHON): LayerEntry[] {
  const { bin, stdlib } = hostPython(python);
  const dirs = new Set<string>(['tmp', 'etc', 'usr', 'usr/bin', 'usr/lib']);
  const entries: LayerEntry[] = [
    { path: bin.slice(1), type: 'file', mode: 0o755, source: bin },
    { path: 'usr/bin/python3', type: 'symlink', target: basename(bin) },
  ];
  const extensions: string[] = [];
  const walk = (d: string) => {
    dirs.add(d.slice(1));
    for (const name of readdirSync(d).sort()) {
      const full = join(d, name);
      const st = lstatSync(full);
      if (st.isDirectory()) {
        if (!SKIP_DIRS.has(name) && !/^config-\d/.test(name)) walk(full);
      } else if (st.isSymbolicLink()) {
        const target = readlinkSync(full);
        // A link out of the stdlib (Debian's sitecustomize.py → /etc) would dangle: left out.
        if (!target.startsWith('/')) entries.push({ path: full.slice(1), type: 'symlink', target });
      } else if (st.isFile() && !SKIP_FILE.test(name)) {
        entries.push({
          path: full.slice(1),
          type: 'file',
          mode: st.mode & 0o111 ? 0o755 : 0o644,
          source: full,
        });
        if (name.endsWith('.so')) extensions.push(full);
      }
    }
  };
  walk(stdlib);
  entries.push(...stdlibBytecode(bin, stdlib, dirs));
  for (let d = dirname(stdlib); d !== '/'; d = dirname(d)) dirs.add(d.slice(1));
  entries.push(...libraryEntries(sharedLibraries([bin, ...extensions]), dirs));
  entries.push(...dirEntries(dirs), ...userEntries());
  return entries;
}

export interface PythonImageOptions {
  /** Files under /app (and any others, e.g. a runner under /thaw). */
  appFiles: LayerEntry[];
  /** The script python runs, e.g. /app/server.py. */
  entry: string;
  /** Extra folders for PYTHONPATH, e.g. /app/vendor. */
  pythonPath?: string[];
}

/**
 * An image running `entry` with the host's python. No bytecode is written at run time
 * (PYTHONDONTWRITEBYTECODE): a start compiles what it imports beyond the precompiled stdlib
 * modules (the app's own files, vendored packages, rarer stdlib modules) each time.
 */
export function pythonImage(o: PythonImageOptions, python = HOST_PYTHON): ImageDefinition {
  return {
    layers: [
      { entries: pythonBaseLayer(python) },
      { entries: [{ path: 'app', type: 'dir', mode: 0o755 }, ...o.appFiles], gzip: true },
    ],
    config: {
      Entrypoint: ['/usr/bin/python3', o.entry],
      Env: [
        'PATH=/usr/bin:/bin',
        'PORT=8080',
        'PYTHONUNBUFFERED=1',
        'PYTHONDONTWRITEBYTECODE=1',
        'PYTHONUTF8=1',
        ...(o.pythonPath?.length ? [`PYTHONPATH=${o.pythonPath.join(':')}`] : []),
      ],
      WorkingDir: '/app',
      ExposedPorts: { '8080/tcp': {} },
    },
  };
}
