import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Invoke } from '../calls/types.js';
import type { GatewayMetrics } from '../metrics.js';
import { envelopeFor, type InvocationDeps, invokable, rawBodies } from './invocation.js';

export interface InvokeRouteDeps extends InvocationDeps {
  invoke: Invoke;
  metrics: GatewayMetrics;
  maxBodyBytes: number;
}

/** `ANY /fn/:name[/*]`: the synchronous invoke path, gateway → NATS → worker → container. */
export async function invokeRoutes(app: FastifyInstance, d: InvokeRouteDeps): Promise<void> {
  rawBodies(app, d.maxBodyBytes);

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
    const answer = await d.invoke(fn, envelopeFor(d, fn, req, `/fn/${name}`));
    for (const [k, v] of Object.entries(answer.headers)) void reply.header(k, v);
    return reply.code(answer.status).send(answer.body);
  };
  app.all('/fn/:name', handler);
  app.all('/fn/:name/*', handler);
}
