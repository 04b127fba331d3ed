import { ThawError } from '@thaw/shared';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AsyncCalls } from '../async/calls.js';
import { envelopeFor, type InvocationDeps, invokable, rawBodies } from './invocation.js';

export interface AsyncRouteDeps extends InvocationDeps {
  asyncCalls: AsyncCalls;
  maxBodyBytes: number;
}

/**
 * Async: the call is stored (BullMQ on Redis) and answered 202 at once; GET /v1/calls/:id
 * tells how it went, and X-Callback-Url (optional) receives the function's answer.
 */
export async function asyncRoutes(app: FastifyInstance, d: AsyncRouteDeps): Promise<void> {
  rawBodies(app, d.maxBodyBytes);

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
    d.functions.checkReachable();
    const view = await d.asyncCalls.get(req.params.id);
    if (!view)
      throw new ThawError(
        'CALL_NOT_FOUND',
        `no async call "${req.params.id}" (never made, discarded or expired)`,
      );
    return view;
  });
}
