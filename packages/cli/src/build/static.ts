import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ImageDefinition, type LayerEntry, readElf, staticImage } from '@thaw/runtime/build';
import { UsageError } from './errors.js';
import type { Mode } from './mode.js';

/** Names a server binary is found by without a thaw.json (bootstrap: Lambda's custom runtimes). */
const BINARY_NAMES = ['server', 'bootstrap'];

interface ThawJson {
  binary?: string;
  libraries?: 'host';
}

function readThawJson(dir: string): ThawJson {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(join(dir, 'thaw.json'), 'utf8'));
  } catch (err) {
    throw new UsageError(`${dir}/thaw.json: ${(err as Error).message}`);
  }
  const o = (raw ?? {}) as Record<string, unknown>;
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new UsageError(`${dir}/thaw.json: must be an object`);
  if (o.binary !== undefined && typeof o.binary !== 'string')
    throw new UsageError(`${dir}/thaw.json: "binary" must be a path inside the directory`);
  if (o.libraries !== undefined && o.libraries !== 'host')
    throw new UsageError(`${dir}/thaw.json: "libraries" can only be "host"`);
  return { binary: o.binary as string | undefined, libraries: o.libraries as 'host' | undefined };
}

/**
 * A server binary: the file thaw.json's "binary" names, or an ELF executable called `server` or
 * `bootstrap`. It must be built for x86-64 and, unless thaw.json says `"libraries": "host"`
 * (carry the host's copies of what it links), statically linked.
 */
export function detectBinary(dir: string, files: string[]): Mode | undefined {
  const cfg = files.includes('thaw.json') ? readThawJson(dir) : {};
  const file = cfg.binary?.replace(/^\.\//, '') ?? BINARY_NAMES.find((n) => files.includes(n));
  if (!file) return undefined;
  if (!files.includes(file))
    throw new UsageError(`${dir}/thaw.json: "binary" ${file} is not a file in ${dir}`);
  const elf = readElf(join(dir, file));
  if (!elf?.executable)
    throw new UsageError(
      `${dir}/${file} is not an ELF executable: a binary image carries no shell or interpreter to run a script`,
    );
  if (!elf.x86_64) throw new UsageError(`${dir}/${file} is not built for x86-64 (linux/amd64)`);
  if (elf.interpreter && cfg.libraries !== 'host')
    throw new UsageError(
      `${dir}/${file} is dynamically linked (interpreter ${elf.interpreter}) and the image has no libraries: ` +
        'build it statically (Go: CGO_ENABLED=0; Rust: --target x86_64-unknown-linux-musl), or put ' +
        '{"libraries": "host"} in thaw.json to carry the host\'s copies of the libraries it links',
    );
  return { language: 'binary', kind: 'binary', file, hostLibraries: Boolean(elf.interpreter) };
}

export function binaryDefinition(dir: string, mode: Mode, app: LayerEntry[]): ImageDefinition {
  // The binary runs whatever its mode bits were in the directory (a copy may have lost them).
  const exe = `app/${mode.file}`;
  return staticImage({
    appFiles: app.map((e) => (e.path === exe && e.type === 'file' ? { ...e, mode: 0o755 } : e)),
    entry: `/app/${mode.file}`,
    hostLibrariesOf: mode.hostLibraries ? [join(dir, mode.file)] : undefined,
  });
}
