import { randomUUID } from 'node:crypto';
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
import type { AsyncCalls } from '../async/calls.js';
import { type ClusterView, totalRemovals } from '../cluster/view.js';
import type { Placer } from '../placement/placer.js';
import { functionNotFound } from '../store/errors.js';
import type { FunctionStore } from '../store/functions.js';
import type { ImageStore } from '../store/images.js';
import { newToken, sha256Hex } from './auth.js';

export interface FunctionDeps {
  nc: NatsConnection;
  subjects: Subjects;
  functions: FunctionStore;
  images: ImageStore;
  placer: Placer;
  view: ClusterView;
  asyncCalls: AsyncCalls;
  log: Logger;
}

const json = JSONCodec<unknown>();
/** How long an update's claim lasts unless renewed (it is renewed every third of this while the update runs). */
const UPDATE_CLAIM_MS = 30_000;

/** A record as the API shows it: without the invoke token's hash. */
function view(fn: FunctionRecord): Omit<FunctionRecord, 'invokeTokenSha256'> {
  const { invokeTokenSha256: _hidden, ...rest } = fn;
  return rest;
}

/**
 * The invoke token for a function with invokeAuth "token": the one it has, or a new one
 * (returned once, in `invokeToken`). Public functions have none.
 */
function invokeToken(
  spec: { invokeAuth: 'public' | 'token' },
  current?: FunctionRecord,
): { sha?: string; shown?: string } {
  if (spec.invokeAuth !== 'token') return {};
  if (current?.invokeTokenSha256) return { sha: current.invokeTokenSha256 };
  const token = newToken();
  return { sha: sha256Hex(token), shown: token };
}

/** `/v1/functions`: create, list, get and delete. */
export async function functionRoutes(app: FastifyInstance, d: FunctionDeps): Promise<void> {
  app.post('/v1/functions', async (req, reply) => {
    const spec = FunctionSpec.parse(req.body ?? {});
    const fromRegistry = checkImage(spec.image);
    const now = new Date().toISOString();
    const token = invokeToken(spec);
    const fn: FunctionRecord = {
      ...spec,
      revision: 1,
      status: fromRegistry ? 'pulling' : 'ready',
      createdAt: now,
      updatedAt: now,
      ...(fromRegistry ? {} : { imageDigest: spec.image }),
      ...(token.sha ? { invokeTokenSha256: token.sha } : {}),
    };
    const shown = { ...view(fn), ...(token.shown ? { invokeToken: token.shown } : {}) };
    // Checked before the record is written, so a bad digest leaves nothing behind.
    const source = await d.images.sourceOf(fn);
    if (!(await d.functions.create(fn))) {
      throw new ThawError('FUNCTION_EXISTS', `a function named "${fn.name}" exists already; delete it first`);
    }
    // Every gateway starts consuming the new function's async calls.
    d.nc.publish(d.subjects.functionChanged, json.encode({ name: fn.name }));
    if (fromRegistry) {
      // Pulling can take minutes: answer now; GET /v1/functions/:name shows pulling → ready or failed.
      void pullAndPlace(d, fn, source);
      return reply.code(202).send(shown);
    }
    // Warm one instance now so that the first call is a thaw, not a cold start. If no worker can
    // take it yet, the function still exists and the first call tries again.
    await d.placer.place(fn, source).catch((err: unknown) => {
      req.log.warn({ err, fn: fn.name }, 'could not place the new function yet');
    });
    return reply.code(201).send(shown);
  });

  // Update: a new revision. It is started on a worker (pulled first, for a registry image)
  // before it is stored, so a bad image leaves the function as it was; then every worker
  // holding the function rolls to it without failing a call.
  app.put<{ Params: { name: string } }>('/v1/functions/:name', async (req) => {
    const { name } = req.params;
    const spec = FunctionSpec.parse({ name, ...(req.body as object) });
    if (spec.name !== name) {
      throw new ThawError(
        'VALIDATION_FAILED',
        `name: "${spec.name}" does not match the path ("${name}"); functions cannot be renamed`,
      );
    }
    const fromRegistry = checkImage(spec.image);
    // One update at a time per function (FunctionStore.claimUpdate says why); a second one is a conflict.
    const owner = randomUUID();
    if (!(await d.functions.claimUpdate(name, owner, UPDATE_CLAIM_MS))) {
      throw new ThawError(
        'UPDATE_CONFLICT',
        `another update of function "${name}" is running; read it when that one is done and try again`,
      );
    }
    const renew = setInterval(() => {
      d.functions
        .renewUpdate(name, owner, UPDATE_CLAIM_MS)
        .catch((err: Error) => d.log.warn({ fn: name, err: err.message }, 'renewing an update claim failed'));
    }, UPDATE_CLAIM_MS / 3);
    try {
      return await update(d, name, spec, fromRegistry);
    } finally {
      clearInterval(renew);
      await d.functions
        .releaseUpdate(name, owner)
        .catch((err: Error) =>
          d.log.warn({ fn: name, err: err.message }, 'releasing an update claim failed'),
        );
    }
  });

  app.get('/v1/functions', async () => ({ functions: (await d.functions.list()).map(view) }));

  app.get<{ Params: { name: string } }>('/v1/functions/:name', async (req) => {
    // The admin API reads Redis itself; only the invoke path works from the cache.
    const fn = await d.functions.require(req.params.name, { fresh: true });
    // Instances per worker, as the workers' latest heartbeats (at most ~0.5 s old) tell.
    const workers = d.view.instancesOf(fn.name);
    return { ...view(fn), workers, removed: totalRemovals(workers) };
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
    const { name } = req.params;
    if (!(await d.functions.delete(name))) throw functionNotFound(name);
    // Workers drop its instances and other gateways their cached record; its queued async
    // calls are dropped (results already kept stay readable until they expire).
    d.nc.publish(d.subjects.functionRemoved, json.encode({ name }));
    await d.asyncCalls.discard(name);
    await d.nc.flush();
    return reply.code(204).send();
  });
}

/** An update that holds the function's claim: the next revision started, then stored if still next. */
async function update(
  d: FunctionDeps,
  name: string,
  spec: FunctionSpec,
  fromRegistry: boolean,
): Promise<Omit<FunctionRecord, 'invokeTokenSha256'> & { invokeToken?: string }> {
  // Read after the claim: an update that finished just before is the one this one follows.
  const current = await d.functions.require(name, { fresh: true });
  const now = new Date().toISOString();
  const token = invokeToken(spec, current);
  let next: FunctionRecord = {
    ...spec,
    revision: current.revision + 1,
    status: 'ready',
    createdAt: current.createdAt,
    updatedAt: now,
    ...(fromRegistry ? {} : { imageDigest: spec.image }),
    ...(token.sha ? { invokeTokenSha256: token.sha } : {}),
  };
  const source = await d.images.sourceOf(next);
  // On a worker that holds the function, so that it rolls rather than a new one starting it.
  const holder = d.view.instancesOf(name).find((w) => !w.draining)?.worker;
  const placed = await d.placer.place(next, source, holder).catch((err: unknown) => {
    // No worker now: the next call places the new revision. A registry image must resolve.
    if (err instanceof ThawError && err.code === 'NO_WORKER' && !fromRegistry) return undefined;
    throw err;
  });
  if (placed) next = { ...next, imageDigest: placed.digest };
  if (!(await d.functions.replaceRevision(next, current.revision))) {
    throw new ThawError(
      'UPDATE_CONFLICT',
      `function "${name}" changed while this update ran (it is no longer revision ${current.revision}); read it and try again`,
    );
  }
  d.nc.publish(d.subjects.functionUpdated, json.encode({ fn: next, image: source }));
  d.nc.publish(d.subjects.functionChanged, json.encode({ name }));
  await d.nc.flush();
  return { ...view(next), ...(token.shown ? { invokeToken: token.shown } : {}) };
}

/** True for a registry reference, false for an uploaded image's digest; anything else is refused. */
function checkImage(image: string): boolean {
  const fromRegistry = RegistryReference.safeParse(image).success;
  if (!fromRegistry && !ImageDigest.safeParse(image).success) {
    throw new ThawError(
      'VALIDATION_FAILED',
      'image: must be a digest from POST /v1/images (sha256:<64 hex digits>) or a registry reference (host[:port]/repository[:tag])',
    );
  }
  return fromRegistry;
}

/** A registry function's first placement: the worker pulls, and the record says how it went. */
async function pullAndPlace(d: FunctionDeps, fn: FunctionRecord, source: ImageSource): Promise<void> {
  let next: FunctionRecord;
  try {
    const placed = await d.placer.place(fn, source);
    next = { ...fn, status: 'ready', imageDigest: placed.digest, updatedAt: new Date().toISOString() };
  } catch (err) {
    const reason = err instanceof ThawError ? err.message : String(err);
    d.log.warn({ fn: fn.name, reason }, 'pulling the function image failed');
    next = { ...fn, status: 'failed', reason, updatedAt: new Date().toISOString() };
  }
  if (await d.functions.update(next)) {
    d.nc.publish(d.subjects.functionChanged, json.encode({ name: fn.name }));
  }
}
