import { ThawError } from '@thaw/shared';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AsyncCalls } from '../async/calls.js';
import { MAX_LIST } from '../async/list.js';
import { CALL_STATUSES, type CallStatus } from '../async/records.js';
import { envelopeFor, type InvocationDeps, invokable, rawBodies } from './invocation.js';

export interface AsyncRouteDeps extends InvocationDeps {
  asyncCalls: AsyncCalls;
  maxBodyBytes: number;
}

/** Calls GET /v1/calls lists when no limit is given. */
const DEFAULT_LIST = 50;

/** GET /v1/calls's query, checked: a caller's mistake is a VALIDATION_FAILED naming the field. */
function listQuery(q: Record<string, string | undefined>): {
  fn: string;
  limit: number;
  status?: CallStatus;
} {
  const fn = q.function;
  if (!fn) throw new ThawError('VALIDATION_FAILED', 'function: required (the function whose calls to list)');
  const limit = Number(q.limit ?? DEFAULT_LIST);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST) {
    throw new ThawError('VALIDATION_FAILED', `limit: must be a whole number from 1 to ${MAX_LIST}`);
  }
  const status = q.status;
  if (status !== undefined && !CALL_STATUSES.includes(status as CallStatus)) {
    throw new ThawError('VALIDATION_FAILED', `status: must be one of ${CALL_STATUSES.join(', ')}`);
  }
  return { fn, limit, ...(status ? { status: status as CallStatus } : {}) };
}

/**
 * Async: the call is stored (BullMQ on Redis) and answered 202 at once; GET /v1/calls/:id
 * tells how it went, and X-Callback-Url (optional) receives the function's answer.
 * GET /v1/calls?function= lists a function's calls, its schedules' ticks included.
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

  app.get<{ Querystring: Record<string, string | undefined> }>('/v1/calls', async (req) => {
    const { fn, limit, status } = listQuery(req.query);
    await d.functions.require(fn, { fresh: true });
    const calls = await d.asyncCalls.list(fn, { limit, ...(status ? { status } : {}) });
    return { calls };
  });

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
