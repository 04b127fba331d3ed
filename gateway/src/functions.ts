import {
  type FunctionRecord,
  FunctionSpec,
  ImageDigest,
  type Logger,
  type Subjects,
  ThawError,
} from '@thaw/shared';
import type { FastifyInstance } from 'fastify';
import { JSONCodec, type NatsConnection } from 'nats';
import type { Registry } from './registry.js';
import type { Workers } from './workers.js';

export interface FunctionDeps {
  nc: NatsConnection;
  subjects: Subjects;
  registry: Registry;
  workers: Workers;
  log: Logger;
}

const json = JSONCodec<unknown>();

/** `/v1/functions`: create, list, get and delete. */
export async function functionRoutes(app: FastifyInstance, d: FunctionDeps): Promise<void> {
  app.post('/v1/functions', async (req, reply) => {
    const spec = FunctionSpec.parse(req.body ?? {});
    if (!ImageDigest.safeParse(spec.image).success) {
      if (spec.image.startsWith('sha256:')) {
        throw new ThawError(
          'VALIDATION_FAILED',
          'image: a digest is sha256: followed by 64 lower-case hex digits',
        );
      }
      throw new ThawError(
        'REGISTRY_UNSUPPORTED',
        `image "${spec.image}" looks like a registry reference; pulling from registries is not supported yet. Upload the image archive to POST /v1/images and deploy with the digest it returns.`,
      );
    }
    const image = await d.registry.getImage(spec.image);
    if (!image)
      throw new ThawError(
        'IMAGE_NOT_FOUND',
        `no image ${spec.image} was uploaded; upload it to POST /v1/images first`,
      );
    const now = new Date().toISOString();
    const fn: FunctionRecord = { ...spec, image: image.digest, createdAt: now, updatedAt: now };
    if (!(await d.registry.createFunction(fn))) {
      throw new ThawError('FUNCTION_EXISTS', `a function named "${fn.name}" exists already; delete it first`);
    }
    // Warm one instance now so that the first call is a thaw, not a cold start. If no worker can
    // take it yet, the function still exists and the first call tries again.
    await d.workers.place(fn, image).catch((err: unknown) => {
      req.log.warn({ err, fn: fn.name }, 'could not place the new function yet');
    });
    return reply.code(201).send(fn);
  });

  app.get('/v1/functions', async () => ({ functions: await d.registry.listFunctions() }));

  app.get<{ Params: { name: string } }>('/v1/functions/:name', async (req) => {
    const fn = await d.registry.getFunction(req.params.name);
    if (!fn) throw new ThawError('FUNCTION_NOT_FOUND', `no function named "${req.params.name}"`);
    return fn;
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
