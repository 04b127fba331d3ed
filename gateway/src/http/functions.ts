import { FunctionSpec } from '@thaw/shared';
import type { FastifyInstance } from 'fastify';
import { JSONCodec } from 'nats';
import { totalRemovals } from '../cluster/view.js';
import {
  createFunction,
  deleteFunction,
  type FunctionDeps,
  publicView,
  updateFunction,
} from './function-ops.js';

export type { FunctionDeps } from './function-ops.js';

const json = JSONCodec<unknown>();

/** `/v1/functions`: create, list, get and delete (the work itself: function-ops.ts). */
export async function functionRoutes(app: FastifyInstance, d: FunctionDeps): Promise<void> {
  app.post('/v1/functions', async (req, reply) => {
    const { status, shown } = await createFunction(d, FunctionSpec.parse(req.body ?? {}));
    return reply.code(status).send(shown);
  });

  app.put<{ Params: { name: string } }>('/v1/functions/:name', async (req) => {
    const { name } = req.params;
    return (await updateFunction(d, name, FunctionSpec.parse({ name, ...(req.body as object) }))).shown;
  });

  app.get('/v1/functions', async () => ({ functions: (await d.functions.list()).map(publicView) }));

  app.get<{ Params: { name: string } }>('/v1/functions/:name', async (req) => {
    // The admin API reads Redis itself; only the invoke path works from the cache.
    const fn = await d.functions.require(req.params.name, { fresh: true });
    // Instances per worker, as the workers' latest heartbeats (at most ~0.5 s old) tell.
    const workers = d.view.instancesOf(fn.name);
    return { ...publicView(fn), workers, removed: totalRemovals(workers) };
  });

  // Frozen instances cost no CPU and are kept while memory allows; this is how a user frees
  // their memory now. Published, not requested: each worker acts on its own instances, and
  // the heartbeats (GET above) show the result as `removed.requested`.
  app.post<{ Params: { name: string } }>('/v1/functions/:name/scale-to-zero', async (req, reply) => {
    const fn = await d.functions.require(req.params.name, { fresh: true });
    d.nc.publish(d.subjects.functionScaleToZero, json.encode({ name: fn.name }));
    await d.nc.flush();
    return reply.code(202).send({
      name: fn.name,
      requested: 'scale-to-zero',
      minInstances: fn.minInstances,
      // Those that held instances at the last heartbeat; every worker gets the request.
      workers: d.view.instancesOf(fn.name).map((w) => w.worker),
      message: `every worker removes the idle instances of "${fn.name}" above its minimum (${fn.minInstances}); busy ones stay`,
    });
  });

  app.delete<{ Params: { name: string } }>('/v1/functions/:name', async (req, reply) => {
    await deleteFunction(d, req.params.name);
    return reply.code(204).send();
  });
}
