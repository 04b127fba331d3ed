import { existsSync } from 'node:fs';
import { HOST_PYTHON, type ImageDefinition, type LayerEntry, pythonImage } from '@thaw/runtime/build';
import { UsageError } from './errors.js';
import type { Mode } from './mode.js';
import { PYTHON_RUNNER } from './python-runner.js';

/** The folder of vendored pure-Python packages (`pip install --target vendor -r requirements.txt`). */
const VENDOR = 'vendor';

/**
 * A `handler.py` defining `handler(event, context)` is served by a baked stdlib-only runner; a
 * `server.py` or `app.py` is run as a plain HTTP server on $PORT. `vendor/` goes on PYTHONPATH.
 */
export function detectPython(dir: string, files: string[]): Mode | undefined {
  const kind = files.includes('handler.py') ? 'handler' : undefined;
  const server = ['server.py', 'app.py'].find((f) => files.includes(f));
  if (!kind && !server) return undefined;
  const vendored = files.some((f) => f.startsWith(`${VENDOR}/`));
  if (files.includes('requirements.txt') && !vendored)
    throw new UsageError(
      `${dir} has a requirements.txt but no ${VENDOR}/ folder: the image is built without network, so vendor the packages first (pip install --target ${VENDOR} -r requirements.txt)`,
    );
  const pythonPath = vendored ? [VENDOR] : undefined;
  if (kind) return { language: 'python', kind, file: 'handler.py', pythonPath };
  return { language: 'python', kind: 'server', file: server ?? 'server.py', pythonPath };
}

export function pythonDefinition(mode: Mode, app: LayerEntry[]): ImageDefinition {
  if (!existsSync(HOST_PYTHON))
    throw new UsageError(
      `Python functions are built on this machine's ${HOST_PYTHON} (Debian's python3 package), which is not installed`,
    );
  const pythonPath = mode.pythonPath?.map((p) => `/app/${p}`);
  if (mode.kind !== 'handler') return pythonImage({ appFiles: app, entry: `/app/${mode.file}`, pythonPath });
  return pythonImage({
    appFiles: [
      ...app,
      { path: 'thaw', type: 'dir', mode: 0o755 },
      { path: 'thaw/runner.py', type: 'file', mode: 0o644, content: PYTHON_RUNNER },
    ],
    entry: '/thaw/runner.py',
    pythonPath,
  });
}
