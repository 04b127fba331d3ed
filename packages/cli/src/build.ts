import { execFileSync } from 'node:child_process';
import { type ImageDefinition, writeImageArchive } from '@thaw/runtime/build';
import { UsageError } from './build/errors.js';
import { appEntries, listFiles } from './build/files.js';
import type { Mode } from './build/mode.js';
import { detectNode, nodeDefinition } from './build/node.js';
import { detectPython, pythonDefinition } from './build/python.js';
import { binaryDefinition, detectBinary } from './build/static.js';

export { UsageError } from './build/errors.js';
export type { Mode } from './build/mode.js';

/** What a function directory holds, and how it is started. */
export interface FunctionDir {
  /** Files copied to /app (relative paths, sorted); symlinks, kept as links, are marked `symlink:`. */
  files: string[];
  mode: Mode;
}

/** What `thaw build` recognises, in the order it looks: the error for an unknown directory lists it. */
const SUPPORTED = [
  'a server binary (thaw.json "binary", or an x86-64 ELF executable called server or bootstrap)',
  'Node (handler.mjs or handler.js exporting a function; or a server: package.json "main", server.mjs, server.js)',
  'Python (handler.py defining handler(event, context); or a server: server.py, app.py)',
];

/**
 * Reads a function directory and finds how it starts: a binary named by thaw.json first (it is
 * explicit), then Node, then Python, then a binary found by its name. See docs/languages.md.
 */
export function inspectDir(dir: string, skip: string[] = []): FunctionDir {
  const files = listFiles(dir, skip);
  const explicit = files.includes('thaw.json') ? detectBinary(dir, files) : undefined;
  const mode = explicit ?? detectNode(dir, files) ?? detectPython(dir, files) ?? detectBinary(dir, files);
  if (!mode)
    throw new UsageError(`${dir} is not a function thaw can build; it knows:\n- ${SUPPORTED.join('\n- ')}`);
  return { files, mode };
}

function definition(dir: string, fd: FunctionDir): ImageDefinition {
  const app = appEntries(dir, fd.files);
  switch (fd.mode.language) {
    case 'node':
      return nodeDefinition(fd.mode, app);
    case 'python':
      return pythonDefinition(fd.mode, app);
    case 'binary':
      return binaryDefinition(dir, fd.mode, app);
  }
}

/** How a build is named in the CLI's output: Node's are "handler"/"server", as they always were. */
function describe(mode: Mode): string {
  if (mode.language === 'node') return mode.kind;
  if (mode.language === 'python') return `python ${mode.kind}`;
  return mode.hostLibraries ? 'binary, host libraries' : 'static binary';
}

/**
 * Builds an OCI image archive of a function directory on a base layer made from the machine's
 * own node or python3 (or none, for a static binary), without Docker. Same directory, same digest.
 */
export async function buildFunction(
  dir: string,
  out: string,
): Promise<{ path: string; digest: string; mode: string; language: Mode['language'] }> {
  // The output is never part of the input (a second build in the same folder stays the same).
  const fd = inspectDir(dir, [out]);
  const built = await writeImageArchive(definition(dir, fd), 'oci', out);
  return { ...built, mode: describe(fd.mode), language: fd.mode.language };
}

/** Pushes an OCI archive to a registry with skopeo (installed by infra/setup.sh). */
export function pushArchive(archive: string, reference: string, insecure: boolean): void {
  execFileSync(
    'skopeo',
    [
      'copy',
      ...(insecure ? ['--dest-tls-verify=false'] : []),
      `oci-archive:${archive}`,
      `docker://${reference}`,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
}
