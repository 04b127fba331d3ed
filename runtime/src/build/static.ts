import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { dirEntries, libraryEntries, sharedLibraries, userEntries } from './libs.js';
import type { ImageDefinition, LayerEntry } from './writer.js';

/** What the ELF header and program headers of a file say about running it here. */
export interface ElfInfo {
  /** x86-64 (the only architecture thaw's images are built for). */
  x86_64: boolean;
  /** ET_EXEC or ET_DYN: something the kernel can start (a PIE is ET_DYN too). */
  executable: boolean;
  /** The program interpreter (PT_INTERP) of a dynamically linked binary; undefined when static. */
  interpreter?: string;
}

const ELF_MAGIC = 0x7f454c46;
const EM_X86_64 = 0x3e;
const PT_INTERP = 3;
/** Enough for the ELF header and the program headers of any binary a compiler writes. */
const HEAD_BYTES = 64 * 1024;

/** Reads the ELF header of `file`; undefined when it is not a 64-bit little-endian ELF file. */
export function readElf(file: string): ElfInfo | undefined {
  const buf = Buffer.alloc(HEAD_BYTES);
  const fd = openSync(file, 'r');
  let n: number;
  try {
    n = readSync(fd, buf, 0, HEAD_BYTES, 0);
  } finally {
    closeSync(fd);
  }
  // ELFCLASS64 (2) and little-endian (1) only: the layouts below assume them.
  if (n < 64 || buf.readUInt32BE(0) !== ELF_MAGIC || buf[4] !== 2 || buf[5] !== 1) return undefined;
  const type = buf.readUInt16LE(16);
  const phoff = Number(buf.readBigUInt64LE(32));
  const phentsize = buf.readUInt16LE(54);
  const phnum = buf.readUInt16LE(56);
  let interpreter: string | undefined;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 40 > n) break;
    if (buf.readUInt32LE(at) !== PT_INTERP) continue;
    const off = Number(buf.readBigUInt64LE(at + 8));
    const size = Number(buf.readBigUInt64LE(at + 32));
    interpreter = off + size <= n ? buf.toString('latin1', off, off + size).replace(/\0.*$/s, '') : '?';
  }
  return { x86_64: buf.readUInt16LE(18) === EM_X86_64, executable: type === 2 || type === 3, interpreter };
}

/** The host's CA bundle, so that a binary's TLS clients can verify servers; none when absent. */
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

export interface StaticImageOptions {
  /** Files under /app. */
  appFiles: LayerEntry[];
  /** The binary to run, e.g. /app/server. */
  entry: string;
  /** Host binaries whose shared objects (from ldd) the image carries: for a dynamic `entry`. */
  hostLibrariesOf?: string[];
}

/**
 * An image running one binary and nothing else (no shell): /etc/passwd, /etc/group, /tmp, the
 * host's CA bundle, and the host's shared libraries only when asked for.
 */
export function staticImage(o: StaticImageOptions): ImageDefinition {
  const dirs = new Set<string>(['tmp', 'etc']);
  const base: LayerEntry[] = [...userEntries()];
  if (existsSync(CA_BUNDLE)) {
    for (const d of ['etc/ssl', 'etc/ssl/certs']) dirs.add(d);
    base.push({ path: CA_BUNDLE.slice(1), type: 'file', mode: 0o644, source: CA_BUNDLE });
  }
  base.push(...libraryEntries(sharedLibraries(o.hostLibrariesOf ?? []), dirs), ...dirEntries(dirs));
  return {
    layers: [
      { entries: base },
      { entries: [{ path: 'app', type: 'dir', mode: 0o755 }, ...o.appFiles], gzip: true },
    ],
    config: {
      Entrypoint: [o.entry],
      Env: ['PATH=/app', 'PORT=8080'],
      WorkingDir: '/app',
      ExposedPorts: { '8080/tcp': {} },
    },
  };
}
