import { type CallTrace, serverTiming, traceNow, traceSpans } from '@thaw/shared';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Invoke } from '../calls/types.js';
import type { GatewayMetrics } from '../metrics.js';
import { envelopeFor, type InvocationDeps, invokable, rawBodies } from './invocation.js';

export interface InvokeRouteDeps extends InvocationDeps {
  invoke: Invoke;
  metrics: GatewayMetrics;
  maxBodyBytes: number;
  /** THAW_TIMINGS: per-phase timing of every call (Server-Timing header and a log line). */
  timings?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The function an invoke route called ('' before it is known), for the metrics. */
    invokedFunction: string;
    /** A traced call's marks (THAW_TIMINGS). */
    callTrace: CallTrace | undefined;
  }
}

/** `ANY /fn/:name[/*]`: the synchronous invoke path, gateway → NATS → worker → container. */
export async function invokeRoutes(app: FastifyInstance, d: InvokeRouteDeps): Promise<void> {
  rawBodies(app, d.maxBodyBytes);

  // Which function a request invoked, for the metrics; names that are not functions are not
  // labels (anyone can send any name). Request decorations, not WeakMaps: a WeakMap entry per
  // request is an ephemeron-table insert and more work for the GC.
  app.decorateRequest('invokedFunction', '');
  app.decorateRequest('callTrace', undefined);
  // The metrics' children, made once per label set: labelling each sample hashes its labels
  // (1.3% of the gateway's CPU under warm c32). The series are never reset.
  const counters = new Map<string, { inc(): void }>();
  const timers = new Map<string, { observe(seconds: number): void }>();
  // Callback-style: an async hook costs a promise per request on the hot path.
  app.addHook('onResponse', (req, reply, done) => {
    const fn = req.invokedFunction || '(unknown)';
    const header = reply.getHeader('x-thaw-error');
    const code = typeof header === 'string' ? header : '';
    const key = `${fn}\n${reply.statusCode}\n${code}`;
    let counter = counters.get(key);
    if (!counter) {
      counter = d.metrics.invocations.labels({ function: fn, status: String(reply.statusCode), code });
      counters.set(key, counter);
    }
    counter.inc();
    let timer = timers.get(fn);
    if (!timer) {
      timer = d.metrics.duration.labels({ function: fn });
      timers.set(fn, timer);
    }
    timer.observe(reply.elapsedTime / 1000);
    const trace = req.callTrace;
    // Written: the last phase, which the header (sent before it) cannot carry.
    if (trace) req.log.info({ function: fn, timing: traceSpans(trace, traceNow()) }, 'call timing');
    done();
  });

  const handler = async (req: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply) => {
    const { name } = req.params;
    const trace: CallTrace | undefined = d.timings
      ? { gatewayReceived: traceNow() - reply.elapsedTime }
      : undefined;
    const fn = await invokable(d, req, name, false);
    req.invokedFunction = fn.name;
    const env = envelopeFor(d, fn, req, `/fn/${name}`);
    if (trace) {
      env.trace = trace;
      req.callTrace = trace;
    }
    const answer = await d.invoke(fn, env);
    const { headers } = answer;
    for (const k in headers) void reply.header(k, headers[k] as string | string[]);
    if (trace) void reply.header('server-timing', serverTiming(traceSpans(trace, traceNow())));
    return reply.code(answer.status).send(answer.body);
  };
  app.all('/fn/:name', handler);
  app.all('/fn/:name/*', handler);
}
