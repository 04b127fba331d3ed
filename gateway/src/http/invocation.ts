import { endToEndHeaders, type FunctionRecord, ThawError } from '@thaw/shared';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Envelope } from '../calls/types.js';
import type { FunctionStore } from '../store/functions.js';
import { bearer, tokenMatches } from './auth.js';

/** What both invoke routes (sync and async) need to admit a request. */
export interface InvocationDeps {
  functions: FunctionStore;
  adminHash: string;
}

/**
 * The function `name`, if it exists and this request may invoke it (read `fresh` when the
 * call is stored for later rather than answered now).
 */
export async function invokable(
  d: InvocationDeps,
  req: FastifyRequest,
  name: string,
  fresh: boolean,
): Promise<FunctionRecord> {
  const fn = await d.functions.require(name, { fresh });
  checkInvoke(d, fn, req);
  return fn;
}

/** A function with invokeAuth "token" takes its own invoke token or the admin token. */
function checkInvoke(d: InvocationDeps, fn: FunctionRecord, req: FastifyRequest): void {
  if (fn.invokeAuth !== 'token') return;
  const token = bearer(req);
  if (tokenMatches(token, fn.invokeTokenSha256) || tokenMatches(token, d.adminHash)) return;
  throw new ThawError(
    'UNAUTHORIZED',
    `function "${fn.name}" needs its invoke token (or the admin token) as "Authorization: Bearer <token>"`,
  );
}

/** The envelope of a request to `<prefix>/<path>?<query>` (prefix: /fn/<name> or /async/<name>). */
export function envelopeOf(req: FastifyRequest, prefix: string): Envelope {
  const url = req.url;
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  return {
    method: req.method,
    path: rawPath.slice(prefix.length) || '/',
    query: q < 0 ? '' : url.slice(q + 1),
    headers: endToEndHeaders(req.headers),
    body: (req.body as Buffer | undefined) ?? Buffer.alloc(0),
  };
}

/**
 * The envelope, less thaw's own tokens: the one that authorised a token function's call, and
 * the admin token whatever the function. A public function gets other Authorization headers.
 */
export function envelopeFor(
  d: InvocationDeps,
  fn: FunctionRecord,
  req: FastifyRequest,
  prefix: string,
): Envelope {
  const env = envelopeOf(req, prefix);
  if (fn.invokeAuth === 'token' || tokenMatches(bearer(req), d.adminHash)) delete env.headers.authorization;
  return env;
}

/** Every content type arrives as raw bytes, up to the limit; the function decides what it means. */
export function rawBodies(app: FastifyInstance, maxBodyBytes: number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBodyBytes }, (_req, body, done) => {
    done(null, body);
  });
}
