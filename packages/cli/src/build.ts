import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { type LayerEntry, nodeImage, writeImageArchive } from '@thaw/runtime/build';

/** The wrapper that serves a handler module over HTTP on $PORT (baked into /thaw/runner.mjs). */
const RUNNER = `// Made by "thaw build": serves the default export of /app/HANDLER over HTTP on $PORT.
import { createServer } from 'node:http';
const mod = await import('/app/HANDLER');
const handler = mod.default ?? mod.handler;
if (typeof handler !== 'function') {
  console.error('thaw: /app/HANDLER exports no default (or "handler") function');
  process.exit(1);
}
createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const url = new URL(req.url ?? '/', 'http://fn');
    try {
      const out = (await handler({
        method: req.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body: Buffer.concat(chunks),
      })) ?? {};
      let body = out.body ?? '';
      const headers = { ...(out.headers ?? {}) };
      if (!(typeof body === 'string' || Buffer.isBuffer(body))) {
        body = JSON.stringify(body);
        headers['content-type'] ??= 'application/json';
      }
      res.writeHead(out.status ?? 200, headers);
      res.end(body);
    } catch (err) {
      console.error(err);
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: String(err?.message ?? err) }));
    }
  });
}).listen(Number(process.env.PORT ?? 8080), '0.0.0.0');
`;

/** What a function directory holds, and how it is started. */
export interface FunctionDir {
  /** Files copied to /app (relative paths, sorted); symlinks, kept as links, are marked `symlink:`. */
  files: string[];
  /** A handler module to wrap, or the plain server to run. */
  mode: { kind: 'handler'; file: string } | { kind: 'server'; file: string };
}

const SKIP = new Set(['.git', '.thaw', '.DS_Store']);
/** Marks a symlink in FunctionDir.files. */
const LINK = 'symlink:';

/**
 * Reads a function directory: a `handler.mjs` / `handler.js` (or the package.json "main" when
 * it is called handler.*) exporting a function is wrapped in a small HTTP server; any other
 * package.json "main" (or server.mjs / server.js) is run as a plain HTTP server on $PORT.
 */
export function inspectDir(dir: string, skip: string[] = []): FunctionDir {
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
  files.push(...links.map((l) => `${LINK}${l}`));
  let main: string | undefined;
  if (files.includes('package.json')) {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { main?: unknown };
    if (typeof pkg.main === 'string') main = pkg.main.replace(/^\.\//, '');
  }
  const handler = [main, 'handler.mjs', 'handler.js'].find(
    (f) => f && /^handler\.(mjs|js)$/.test(f) && files.includes(f),
  );
  if (handler) return { files, mode: { kind: 'handler', file: handler } };
  const server = [main, 'server.mjs', 'server.js'].find((f) => f && files.includes(f));
  if (server) return { files, mode: { kind: 'server', file: server } };
  throw new UsageError(
    `${dir} has neither a handler (handler.mjs or handler.js exporting a function) nor a server (package.json "main", server.mjs or server.js)`,
  );
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * Builds an OCI image archive of a function directory on the machine's node (the same base
 * layer thaw's own test images use), without Docker. Same directory, same digest.
 */
export async function buildFunction(
  dir: string,
  out: string,
): Promise<{ path: string; digest: string; mode: string }> {
  // The output is never part of the input (a second build in the same folder stays the same).
  const fd = inspectDir(dir, [out]);
  const entries: LayerEntry[] = [];
  const dirs = new Set<string>();
  for (const item of fd.files) {
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
  let entry = `/app/${fd.mode.file}`;
  if (fd.mode.kind === 'handler') {
    entries.push(
      { path: 'thaw', type: 'dir', mode: 0o755 },
      {
        path: 'thaw/runner.mjs',
        type: 'file',
        mode: 0o644,
        content: RUNNER.replaceAll('HANDLER', fd.mode.file),
      },
    );
    entry = '/thaw/runner.mjs';
  }
  const built = await writeImageArchive(nodeImage(entries, entry), 'oci', out);
  return { ...built, mode: fd.mode.kind };
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
