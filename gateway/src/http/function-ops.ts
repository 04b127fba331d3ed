import { randomUUID } from 'node:crypto';
import {
  type FunctionRecord,
  type FunctionSpec,
  ImageDigest,
  type ImageSource,
  type Logger,
  RegistryReference,
  type Subjects,
  ThawError,
} from '@thaw/shared';
import { JSONCodec, type NatsConnection } from 'nats';
import type { AsyncCalls } from '../async/calls.js';
import type { ClusterView } from '../cluster/view.js';
import type { Placer } from '../placement/placer.js';
import { functionNotFound } from '../store/errors.js';
import type { FunctionStore } from '../store/functions.js';
import type { ImageStore } from '../store/images.js';
import { checkTriggers, thawPrefix } from '../triggers/check.js';
import { checkTriggerStreams } from '../triggers/streams.js';
import { newToken, sha256Hex } from './auth.js';

/**
 * Creating, updating and deleting a function, for both APIs that do it: thaw's own
 * (http/functions.ts) and the AWS Lambda API (lambda/functions.ts).
 */
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

/** A record as the API shows it: without the invoke token's hash; a new invoke token once. */
export type ShownFunction = Omit<FunctionRecord, 'invokeTokenSha256'> & { invokeToken?: string };

const json = JSONCodec<unknown>();
/** How long an update's claim lasts unless renewed (it is renewed every third of this while the update runs). */
const UPDATE_CLAIM_MS = 30_000;

/** A record as the API shows it: without the invoke token's hash. */
export function publicView(fn: FunctionRecord): Omit<FunctionRecord, 'invokeTokenSha256'> {
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

/**
 * A new function: stored, announced, and placed (an uploaded image: now, answered 201) or
 * pulled then placed in the background (a registry image: answered 202 at once).
 */
export async function createFunction(
  d: FunctionDeps,
  spec: FunctionSpec,
): Promise<{ status: 201 | 202; fn: FunctionRecord; shown: ShownFunction }> {
  const fromRegistry = checkImage(spec.image);
  checkTriggers(spec, thawPrefix(d.subjects));
  await checkTriggerStreams(spec, thawPrefix(d.subjects), d.nc);
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
  const shown = { ...publicView(fn), ...(token.shown ? { invokeToken: token.shown } : {}) };
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
    return { status: 202, fn, shown };
  }
  // Warm one instance now so that the first call is a thaw, not a cold start. If no worker can
  // take it yet, the function still exists and the first call tries again.
  await d.placer.place(fn, source).catch((err: unknown) => {
    d.log.warn({ err, fn: fn.name }, 'could not place the new function yet');
  });
  return { status: 201, fn, shown };
}

/**
 * Update: a new revision. It is started on a worker (pulled first, for a registry image)
 * before it is stored, so a bad image leaves the function as it was; then every worker
 * holding the function rolls to it without failing a call. One update at a time per function
 * (FunctionStore.claimUpdate says why); a second one is a conflict.
 */
export async function updateFunction(
  d: FunctionDeps,
  name: string,
  spec: FunctionSpec,
): Promise<{ fn: FunctionRecord; shown: ShownFunction }> {
  if (spec.name !== name) {
    throw new ThawError(
      'VALIDATION_FAILED',
      `name: "${spec.name}" does not match the path ("${name}"); functions cannot be renamed`,
    );
  }
  const fromRegistry = checkImage(spec.image);
  checkTriggers(spec, thawPrefix(d.subjects));
  await checkTriggerStreams(spec, thawPrefix(d.subjects), d.nc);
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
      .catch((err: Error) => d.log.warn({ fn: name, err: err.message }, 'releasing an update claim failed'));
  }
}

/**
 * Workers drop its instances and other gateways their cached record; its queued async calls
 * are dropped (results already kept stay readable until they expire).
 */
export async function deleteFunction(d: FunctionDeps, name: string): Promise<void> {
  if (!(await d.functions.delete(name))) throw functionNotFound(name);
  d.nc.publish(d.subjects.functionRemoved, json.encode({ name }));
  await d.asyncCalls.discard(name);
  await d.nc.flush();
}

/** An update that holds the function's claim: the next revision started, then stored if still next. */
async function update(
  d: FunctionDeps,
  name: string,
  spec: FunctionSpec,
  fromRegistry: boolean,
): Promise<{ fn: FunctionRecord; shown: ShownFunction }> {
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
  return { fn: next, shown: { ...publicView(next), ...(token.shown ? { invokeToken: token.shown } : {}) } };
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
