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
import { type Caller, NoRespondersError } from './caller.js';
import type { Cluster } from './cluster.js';
import { fromWire } from './errors.js';
import type { GatewayMetrics } from './metrics.js';
import type { Registry } from './registry.js';
import type { Workers } from './workers.js';

// Extra time past the function's timeout for the worker's own answer to arrive.
const REPLY_GRACE_MS = 2000;

export interface InvokeDeps {
  caller: Caller;
  cluster: Cluster;
  subjects: Subjects;
  registry: Registry;
  workers: Workers;
  maxBodyBytes: number;
  metrics: GatewayMetrics;
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
    const fn = await d.registry.getFunction(name);
    if (!fn) throw new ThawError('FUNCTION_NOT_FOUND', `no function named "${name}"`);
    invoked.set(req, fn.name);
    if (fn.status === 'pulling') {
      throw new ThawError('FUNCTION_NOT_READY', `function "${name}" is still pulling ${fn.image}`);
    }
    if (fn.status === 'failed')
      throw new ThawError('IMAGE_PULL_FAILED', fn.reason ?? `pulling ${fn.image} failed`);

    const url = req.url;
    const q = url.indexOf('?');
    const rawPath = q < 0 ? url : url.slice(0, q);
    const path = rawPath.slice(4 + name.length) || '/';
    const fwd = endToEndHeaders(req.headers);
    const h = natsHeaders();
    h.set(InvokeHeader.method, req.method);
    h.set(InvokeHeader.path, path);
    h.set(InvokeHeader.query, q < 0 ? '' : url.slice(q + 1));
    h.set(InvokeHeader.headers, JSON.stringify(fwd));
    const body = (req.body as Buffer | undefined) ?? Buffer.alloc(0);

    let msg = await send(d, fn, body, h);
    if (msg.headers?.get(InvokeHeader.saturated)) spread(d, fn);
    let code = msg.headers?.get(InvokeHeader.error);
    if (code === 'OVERLOADED') {
      // The workers holding the function are full: spread it to one with room, if there is one.
      const target = d.cluster.pick(fn.name, fn.memoryMiB);
      if (target) {
        await d.workers.place(fn, await d.registry.imageSource(fn), target);
        msg = await send(d, fn, body, h);
        code = msg.headers?.get(InvokeHeader.error);
      }
    }
    if (code) throw fromWire(code, Buffer.from(msg.data).toString());
    const status = Number(msg.headers?.get(InvokeHeader.status) || 502);
    // The worker sends end-to-end headers only.
    const out = JSON.parse(msg.headers?.get(InvokeHeader.headers) || '{}') as HeaderMap;
    for (const [k, v] of Object.entries(out)) void reply.header(k, v);
    return reply.code(status).send(Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength));
  };
  app.all('/fn/:name', handler);
  app.all('/fn/:name/*', handler);
}

async function send(
  d: InvokeDeps,
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
function spread(d: InvokeDeps, fn: FunctionRecord): void {
  // One more worker per second at most: the last one needs a moment to take load.
  if (Date.now() - d.cluster.lastPlaced(fn.name) < 1000) return;
  const target = d.cluster.pick(fn.name, fn.memoryMiB);
  if (!target) return;
  void d.registry
    .imageSource(fn)
    .then((source) => d.workers.place(fn, source, target))
    .catch(() => undefined); // the next saturated reply tries again
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
