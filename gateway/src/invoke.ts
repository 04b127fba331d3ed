import {
  endToEndHeaders,
  type FunctionRecord,
  type HeaderMap,
  InvokeHeader,
  type Subjects,
  ThawError,
} from '@thaw/shared';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Msg, headers as natsHeaders } from 'nats';
import type { AsyncCalls } from './async.js';
import { bearer, tokenMatches } from './auth.js';
import { type Caller, NoRespondersError } from './caller.js';
import type { Cluster } from './cluster.js';
import { fromWire } from './errors.js';
import type { GatewayMetrics } from './metrics.js';
import type { Registry } from './registry.js';
import type { Workers } from './workers.js';

// Extra time past the function's timeout for the worker's own answer to arrive.
const REPLY_GRACE_MS = 2000;
const THAW_ERROR_HEADER = 'x-thaw-error';

export interface InvokeDeps {
  caller: Caller;
  cluster: Cluster;
  subjects: Subjects;
  registry: Registry;
  workers: Workers;
  maxBodyBytes: number;
  metrics: GatewayMetrics;
  asyncCalls: AsyncCalls;
  adminHash: string;
}

/**
 * The function `name`, if it exists and this request may invoke it (read `fresh` when the
 * call is stored for later rather than answered now).
 */
async function invokable(
  d: InvokeDeps,
  req: FastifyRequest,
  name: string,
  fresh: boolean,
): Promise<FunctionRecord> {
  const fn = await d.registry.getFunction(name, { fresh });
  if (!fn) throw new ThawError('FUNCTION_NOT_FOUND', `no function named "${name}"`);
  checkInvoke(d, fn, req);
  return fn;
}

/** A function with invokeAuth "token" takes its own invoke token or the admin token. */
function checkInvoke(d: InvokeDeps, fn: FunctionRecord, req: FastifyRequest): void {
  if (fn.invokeAuth !== 'token') return;
  const token = bearer(req);
  if (tokenMatches(token, fn.invokeTokenSha256) || tokenMatches(token, d.adminHash)) return;
  throw new ThawError(
    'UNAUTHORIZED',
    `function "${fn.name}" needs its invoke token (or the admin token) as "Authorization: Bearer <token>"`,
  );
}

/** `ANY /fn/:name[/*]`: the synchronous invoke path, gateway → NATS → worker → container. */
export async function invokeRoutes(app: FastifyInstance, d: InvokeDeps): Promise<void> {
  // Every content type arrives as raw bytes, up to the limit; the function decides what it means.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: d.maxBodyBytes }, (_req, body, done) => {
    done(null, body);
  });

  // Which function a request invoked, for the metrics; names that are not functions are not
  // labels (anyone can send any name).
  const invoked = new WeakMap<FastifyRequest, string>();
  app.addHook('onResponse', async (req, reply) => {
    const fn = invoked.get(req) ?? '(unknown)';
    const code = reply.getHeader('x-thaw-error');
    d.metrics.invocations.inc({
      function: fn,
      status: String(reply.statusCode),
      code: typeof code === 'string' ? code : '',
    });
    d.metrics.duration.observe({ function: fn }, reply.elapsedTime / 1000);
  });

  const handler = async (req: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply) => {
    const { name } = req.params;
    const fn = await invokable(d, req, name, false);
    invoked.set(req, fn.name);
    const answer = await invokeFunction(d, fn, envelopeFor(d, fn, req, `/fn/${name}`));
    for (const [k, v] of Object.entries(answer.headers)) void reply.header(k, v);
    return reply.code(answer.status).send(answer.body);
  };
  app.all('/fn/:name', handler);
  app.all('/fn/:name/*', handler);

  // Async: the call is stored (BullMQ on Redis) and answered 202 at once; GET /v1/calls/:id
  // tells how it went, and X-Callback-Url (optional) receives the function's answer.
  const asyncHandler = async (req: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply) => {
    const { name } = req.params;
    const fn = await invokable(d, req, name, true);
    const callback = req.headers['x-callback-url'];
    if (callback !== undefined && (typeof callback !== 'string' || !/^https?:\/\/[^\s]+$/.test(callback))) {
      throw new ThawError('VALIDATION_FAILED', 'x-callback-url: must be one http:// or https:// URL');
    }
    const env = envelopeFor(d, fn, req, `/async/${name}`);
    delete env.headers['x-callback-url'];
    const callId = await d.asyncCalls.enqueue(fn, env, callback);
    return reply
      .code(202)
      .header('location', `/v1/calls/${callId}`)
      .header('x-thaw-call-id', callId)
      .send({ callId, status: 'queued' });
  };
  app.all('/async/:name', asyncHandler);
  app.all('/async/:name/*', asyncHandler);

  app.get<{ Params: { id: string } }>('/v1/calls/:id', async (req) => {
    // BullMQ's connection waits for Redis as long as it takes: answer now instead.
    d.registry.checkReachable();
    const view = await d.asyncCalls.get(req.params.id);
    if (!view)
      throw new ThawError(
        'CALL_NOT_FOUND',
        `no async call "${req.params.id}" (never made, discarded or expired)`,
      );
    return view;
  });
}

/** What a call carries to the function: the HTTP request, less the route prefix. */
export interface Envelope {
  method: string;
  path: string;
  query: string;
  headers: HeaderMap;
  body: Buffer;
}

/** The function's answer. */
export interface Answer {
  status: number;
  headers: HeaderMap;
  body: Buffer;
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
function envelopeFor(d: InvokeDeps, fn: FunctionRecord, req: FastifyRequest, prefix: string): Envelope {
  const env = envelopeOf(req, prefix);
  if (fn.invokeAuth === 'token' || tokenMatches(bearer(req), d.adminHash)) delete env.headers.authorization;
  return env;
}

export type InvokeContext = Pick<InvokeDeps, 'caller' | 'cluster' | 'subjects' | 'registry' | 'workers'>;

/**
 * One call of a function over NATS: placed on a worker first when none holds it, spread to
 * another worker when the ones holding it are full. Platform failures throw a ThawError; the
 * function's own answers (any status) are returned.
 */
export async function invokeFunction(d: InvokeContext, fn: FunctionRecord, env: Envelope): Promise<Answer> {
  if (fn.status === 'pulling') {
    throw new ThawError('FUNCTION_NOT_READY', `function "${fn.name}" is still pulling ${fn.image}`);
  }
  if (fn.status === 'failed')
    throw new ThawError('IMAGE_PULL_FAILED', fn.reason ?? `pulling ${fn.image} failed`);
  const h = natsHeaders();
  h.set(InvokeHeader.method, env.method);
  h.set(InvokeHeader.path, env.path);
  h.set(InvokeHeader.query, env.query);
  h.set(InvokeHeader.headers, JSON.stringify(env.headers));

  let msg = await send(d, fn, env.body, h);
  if (msg.headers?.get(InvokeHeader.saturated)) spread(d, fn);
  let code = msg.headers?.get(InvokeHeader.error);
  if (code === 'OVERLOADED') {
    // The workers holding the function are full: spread it to one with room, if there is one
    // (as the record is now: the cached copy may be stale, and a placement is for good).
    const target = d.cluster.pick(fn.name, fn.memoryMiB);
    // Redis down: no placement can be decided on, and the caller hears OVERLOADED, which is true.
    const current = target
      ? await d.registry.getFunction(fn.name, { fresh: true }).catch((err: unknown) => {
          if (err instanceof ThawError && err.code === 'STORE_UNAVAILABLE') return undefined;
          throw err;
        })
      : undefined;
    if (target && current) {
      await d.workers.place(current, await d.registry.imageSource(current), target);
      msg = await send(d, fn, env.body, h);
      code = msg.headers?.get(InvokeHeader.error);
    }
  }
  if (code) throw fromWire(code, Buffer.from(msg.data).toString());
  return {
    status: Number(msg.headers?.get(InvokeHeader.status) || 502),
    // The worker sends end-to-end headers only.
    headers: functionHeaders(msg.headers?.get(InvokeHeader.headers)),
    body: Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength),
  };
}

/**
 * The function's own response headers, less `x-thaw-error`: that header tells thaw's errors
 * from a function's answers, and the metrics and the async retries read it. A function that
 * sent it could pass its answer off as a platform failure. Both the sync and the async paths
 * get their answers here, so this is the one place it is dropped.
 */
function functionHeaders(raw: string | undefined): HeaderMap {
  const headers = JSON.parse(raw || '{}') as HeaderMap;
  for (const name of Object.keys(headers)) {
    if (name.toLowerCase() === THAW_ERROR_HEADER) delete headers[name];
  }
  return headers;
}

async function send(
  d: InvokeContext,
  cached: FunctionRecord,
  body: Buffer,
  h: ReturnType<typeof natsHeaders>,
): Promise<Msg> {
  let fn = cached;
  const timeoutMs = fn.timeoutMs + REPLY_GRACE_MS;
  const subject = d.subjects.invoke(fn.name);
  try {
    return await d.caller.call(subject, body, h, timeoutMs);
  } catch (err) {
    if (!(err instanceof NoRespondersError)) throw named(err, fn);
  }
  // No worker holds the function: have one take it on, then send the same request there. A
  // cached copy may be of a function deleted a moment ago through another gateway: read fresh,
  // or the placement would bring it back.
  const current = await d.registry.getFunction(fn.name, { fresh: true });
  if (!current) throw new ThawError('FUNCTION_NOT_FOUND', `no function named "${fn.name}"`);
  fn = current;
  await d.workers.place(fn, await d.registry.imageSource(fn));
  try {
    return await d.caller.call(subject, body, h, timeoutMs);
  } catch (err) {
    if (err instanceof NoRespondersError)
      throw new ThawError('NO_WORKER', `no worker serves "${fn.name}" right now`);
    throw named(err, fn);
  }
}

/**
 * The function's pool is full where it runs: place it on one more worker with room, in the
 * background (the request that told us is answered already). Placements of one function are
 * shared, so a stream of saturated replies makes one placement at a time.
 */
function spread(d: InvokeContext, fn: FunctionRecord): void {
  // One more worker per second at most: the last one needs a moment to take load.
  if (Date.now() - d.cluster.lastPlaced(fn.name) < 1000) return;
  const target = d.cluster.pick(fn.name, fn.memoryMiB);
  if (!target) return;
  void (async () => {
    const current = await d.registry.getFunction(fn.name, { fresh: true });
    if (current) await d.workers.place(current, await d.registry.imageSource(current), target);
  })().catch(() => undefined); // the next saturated reply tries again
}

/** The caller's errors, with the function named. */
function named(err: unknown, fn: FunctionRecord): unknown {
  if (err instanceof ThawError && err.code === 'FUNCTION_TIMEOUT') {
    return new ThawError(
      'FUNCTION_TIMEOUT',
      `function "${fn.name}" did not answer within ${fn.timeoutMs} ms`,
    );
  }
  if (err instanceof ThawError) return new ThawError(err.code, `function "${fn.name}": ${err.message}`);
  return err;
}
