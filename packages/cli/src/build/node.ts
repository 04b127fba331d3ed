import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ImageDefinition, type LayerEntry, nodeImage } from '@thaw/runtime/build';
import type { Mode } from './mode.js';

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

/**
 * A `handler.mjs` / `handler.js` (or the package.json "main" when it is called handler.*) is
 * wrapped in a small HTTP server; any other package.json "main" (or server.mjs / server.js) is
 * run as a plain HTTP server on $PORT.
 */
export function detectNode(dir: string, files: string[]): Mode | undefined {
  let main: string | undefined;
  if (files.includes('package.json')) {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { main?: unknown };
    if (typeof pkg.main === 'string') main = pkg.main.replace(/^\.\//, '');
  }
  const handler = [main, 'handler.mjs', 'handler.js'].find(
    (f) => f && /^handler\.(mjs|js)$/.test(f) && files.includes(f),
  );
  if (handler) return { language: 'node', kind: 'handler', file: handler };
  const server = [main, 'server.mjs', 'server.js'].find((f) => f && files.includes(f));
  if (server) return { language: 'node', kind: 'server', file: server };
  return undefined;
}

export function nodeDefinition(mode: Mode, app: LayerEntry[]): ImageDefinition {
  if (mode.kind !== 'handler') return nodeImage(app, `/app/${mode.file}`);
  return nodeImage(
    [
      ...app,
      { path: 'thaw', type: 'dir', mode: 0o755 },
      {
        path: 'thaw/runner.mjs',
        type: 'file',
        mode: 0o644,
        content: RUNNER.replaceAll('HANDLER', mode.file),
      },
    ],
    '/thaw/runner.mjs',
  );
}
