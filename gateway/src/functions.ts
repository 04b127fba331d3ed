import {
  type FunctionRecord,
  FunctionSpec,
  ImageDigest,
  type ImageSource,
  type Logger,
  RegistryReference,
  type Subjects,
  ThawError,
} from '@thaw/shared';
import type { FastifyInstance } from 'fastify';
import { JSONCodec, type NatsConnection } from 'nats';
import type { Cluster } from './cluster.js';
import type { Registry } from './registry.js';
import type { Workers } from './workers.js';

export interface FunctionDeps {
  nc: NatsConnection;
  subjects: Subjects;
  registry: Registry;
  workers: Workers;
  cluster: Cluster;
  log: Logger;
}

const json = JSONCodec<unknown>();

/** `/v1/functions`: create, list, get and delete. */
export async function functionRoutes(app: FastifyInstance, d: FunctionDeps): Promise<void> {
  app.post('/v1/functions', async (req, reply) => {
    const spec = FunctionSpec.parse(req.body ?? {});
    const fromRegistry = RegistryReference.safeParse(spec.image).success;
    if (!fromRegistry && !ImageDigest.safeParse(spec.image).success) {
      throw new ThawError(
        'VALIDATION_FAILED',
        'image: must be a digest from POST /v1/images (sha256:<64 hex digits>) or a registry reference (host[:port]/repository[:tag])',
      );
    }
    const now = new Date().toISOString();
    const fn: FunctionRecord = fromRegistry
      ? { ...spec, status: 'pulling', createdAt: now, updatedAt: now }
      : { ...spec, imageDigest: spec.image, status: 'ready', createdAt: now, updatedAt: now };
    // Checked before the record is written, so a bad digest leaves nothing behind.
    const source = await d.registry.imageSource(fn);
    if (!(await d.registry.createFunction(fn))) {
      throw new ThawError('FUNCTION_EXISTS', `a function named "${fn.name}" exists already; delete it first`);
    }
    if (fromRegistry) {
      // Pulling can take minutes: answer now; GET /v1/functions/:name shows pulling → ready or failed.
      void pullAndPlace(d, fn, source);
      return reply.code(202).send(fn);
    }
    // Warm one instance now so that the first call is a thaw, not a cold start. If no worker can
    // take it yet, the function still exists and the first call tries again.
    await d.workers.place(fn, source).catch((err: unknown) => {
      req.log.warn({ err, fn: fn.name }, 'could not place the new function yet');
    });
    return reply.code(201).send(fn);
  });

  app.get('/v1/functions', async () => ({ functions: await d.registry.listFunctions() }));

  app.get<{ Params: { name: string } }>('/v1/functions/:name', async (req) => {
    const fn = await d.registry.getFunction(req.params.name);
    if (!fn) throw new ThawError('FUNCTION_NOT_FOUND', `no function named "${req.params.name}"`);
    // Instances per worker, as the workers' latest heartbeats (at most ~0.5 s old) tell.
    return { ...fn, workers: d.cluster.instancesOf(fn.name) };
  });

  app.delete<{ Params: { name: string } }>('/v1/functions/:name', async (req, reply) => {
    const { name } = req.params;
    if (!(await d.registry.deleteFunction(name))) {
      throw new ThawError('FUNCTION_NOT_FOUND', `no function named "${name}"`);
    }
    // Workers drop its instances and other gateways their cached record.
    d.nc.publish(d.subjects.functionRemoved, json.encode({ name }));
    await d.nc.flush();
    return reply.code(204).send();
  });
}

/** A registry function's first placement: the worker pulls, and the record says how it went. */
async function pullAndPlace(d: FunctionDeps, fn: FunctionRecord, source: ImageSource): Promise<void> {
  let next: FunctionRecord;
  try {
    const placed = await d.workers.place(fn, source);
    next = { ...fn, status: 'ready', imageDigest: placed.digest, updatedAt: new Date().toISOString() };
  } catch (err) {
    const reason = err instanceof ThawError ? err.message : String(err);
    d.log.warn({ fn: fn.name, reason }, 'pulling the function image failed');
    next = { ...fn, status: 'failed', reason, updatedAt: new Date().toISOString() };
  }
  if (await d.registry.updateFunction(next)) {
    d.nc.publish(d.subjects.functionChanged, json.encode({ name: fn.name }));
  }
}
