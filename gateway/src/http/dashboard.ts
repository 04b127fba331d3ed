import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { uiDir } from '@thaw/dashboard';
import { ThawError } from '@thaw/shared';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Where the dashboard is served: the page at /ui/, its files under /ui/assets/. */
export const UI_PREFIX = '/ui';

/**
 * The page runs only this gateway's files and talks only to it. Vega evaluates its expressions
 * with vega-interpreter (no 'unsafe-eval'); Preact and Vega set styles through the CSSOM, which
 * style-src does not govern, so no 'unsafe-inline' either.
 */
export const UI_CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const SECURITY_HEADERS = {
  'content-security-policy': UI_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Asset names carry their content's hash (esbuild): a name never changes content. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** Below this a file is sent as is: gzip would save too little. */
const GZIP_FROM_BYTES = 1024;

interface UiFile {
  type: string;
  body: Buffer;
  compressible: boolean;
  /** Made on the first request that accepts gzip (not at start: every gateway test builds an app). */
  gzipped?: Buffer;
  cache: string;
}

function uiFile(name: string, body: Buffer, cache: string): UiFile {
  const type = CONTENT_TYPES[extname(name)] ?? 'application/octet-stream';
  const compressible = /^text\/|svg/.test(type) && body.length >= GZIP_FROM_BYTES;
  return { type, body, cache, compressible };
}

/**
 * The built files, read once: the page and the assets it names. Only these names are served,
 * so no request path reaches the file system. An unbuilt dashboard (no dist/ui) is no error
 * for the gateway: /ui answers 404 saying so.
 */
async function loadUi(dir: string): Promise<{ index: UiFile; assets: Map<string, UiFile> } | undefined> {
  let index: Buffer;
  try {
    index = await readFile(join(dir, 'index.html'));
  } catch {
    return undefined;
  }
  const assets = new Map<string, UiFile>();
  for (const name of await readdir(join(dir, 'assets'))) {
    assets.set(name, uiFile(name, await readFile(join(dir, 'assets', name)), IMMUTABLE));
  }
  return { index: uiFile('index.html', index, 'no-cache'), assets };
}

function send(req: FastifyRequest, reply: FastifyReply, file: UiFile): FastifyReply {
  reply.headers(SECURITY_HEADERS).header('content-type', file.type).header('cache-control', file.cache);
  if (file.compressible) {
    reply.header('vary', 'accept-encoding');
    if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
      file.gzipped ??= gzipSync(file.body);
      return reply.header('content-encoding', 'gzip').send(file.gzipped);
    }
  }
  return reply.send(file.body);
}

/**
 * `GET /ui`: the web dashboard (@thaw/dashboard). Its files hold no data, so they are public;
 * every figure on the page comes from /v1 calls that carry the admin token the user signs in with.
 */
export async function dashboardRoutes(app: FastifyInstance, opts: { dir?: string } = {}): Promise<void> {
  const ui = await loadUi(opts.dir ?? uiDir);
  const missing = () =>
    new ThawError('ROUTE_NOT_FOUND', 'the dashboard is not built (npm run build in packages/dashboard)');
  // Relative, so the page stays under whatever path a proxy serves the gateway at.
  app.get(UI_PREFIX, { logLevel: 'silent' }, async (_req, reply) =>
    reply.headers(SECURITY_HEADERS).redirect('ui/', 301),
  );
  app.get(`${UI_PREFIX}/`, { logLevel: 'silent' }, async (req, reply) => {
    if (!ui) throw missing();
    return send(req, reply, ui.index);
  });
  app.get<{ Params: { file: string } }>(
    `${UI_PREFIX}/assets/:file`,
    { logLevel: 'silent' },
    async (req, reply) => {
      if (!ui) throw missing();
      const file = ui.assets.get(req.params.file);
      if (!file) throw new ThawError('ROUTE_NOT_FOUND', `no dashboard file ${req.params.file}`);
      return send(req, reply, file);
    },
  );
}
