import type { FastifyInstance, FastifyRequest } from 'fastify';
import { createFunction, deleteFunction, type FunctionDeps, updateFunction } from '../http/function-ops.js';
import {
  checkQualifier,
  configurationOf,
  createSpec,
  getFunctionOf,
  nameOf,
  updatedCodeSpec,
} from './config.js';
import { invalidParameter, LambdaError } from './errors.js';

/** ListFunctions' page size when MaxItems is not given, and its largest (Lambda's: 50 and 10,000). */
const DEFAULT_MAX_ITEMS = 50;
const MAX_MAX_ITEMS = 10_000;

/** The request's JSON body (the Lambda scope takes every body as bytes: SigV4 hashes them). */
function jsonBody(req: FastifyRequest): unknown {
  const raw = req.body as Buffer | undefined;
  if (!raw?.length) return {};
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new LambdaError(
      'InvalidRequestContentException',
      400,
      `the body is not valid JSON: ${(err as Error).message}`,
    );
  }
}

interface ListQuery {
  Marker?: string;
  MaxItems?: string;
}
type Named = FastifyRequest<{ Params: { name: string }; Querystring: { Qualifier?: string } & ListQuery }>;

/** The unqualified name of the request's function (versions and aliases are not kept). */
function targetOf(req: Named): string {
  const { name, qualifier } = nameOf(req.params.name);
  checkQualifier(req.query.Qualifier ?? qualifier, name);
  return name;
}

/**
 * CreateFunction, GetFunction, ListFunctions, DeleteFunction and UpdateFunctionCode, on
 * thaw's own function operations (http/function-ops.ts). `regionOf` is the region the request
 * was signed for: thaw's ARNs name it.
 */
export function lambdaFunctionRoutes(
  app: FastifyInstance,
  d: FunctionDeps,
  regionOf: (req: FastifyRequest) => string,
): void {
  app.post('/2015-03-31/functions', async (req, reply) => {
    const { fn } = await createFunction(d, createSpec(jsonBody(req)));
    return reply.code(201).send(configurationOf(fn, regionOf(req)));
  });

  const list = async (req: FastifyRequest<{ Querystring: ListQuery }>) => {
    const { Marker: marker, MaxItems: max } = req.query;
    const maxItems = max === undefined ? DEFAULT_MAX_ITEMS : Number(max);
    if (!Number.isInteger(maxItems) || maxItems < 1 || maxItems > MAX_MAX_ITEMS) {
      throw invalidParameter(`MaxItems: must be a whole number from 1 to ${MAX_MAX_ITEMS}`);
    }
    // The marker is the last name of the page before: names are unique and listed in order.
    const all = (await d.functions.list()).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const rest = marker ? all.filter((f) => f.name > marker) : all;
    const page = rest.slice(0, maxItems);
    const region = regionOf(req);
    const last = page.at(-1);
    return {
      Functions: page.map((f) => configurationOf(f, region)),
      ...(rest.length > maxItems && last ? { NextMarker: last.name } : {}),
    };
  };
  app.get('/2015-03-31/functions', list);

  app.get('/2015-03-31/functions/:name', async (req: Named) => {
    // The SDK lists at "/2015-03-31/functions/", which this route matches with an empty name:
    // served here rather than as a route of its own, which OpenAPI could not describe.
    if (req.params.name === '') return list(req as FastifyRequest<{ Querystring: ListQuery }>);
    const fn = await d.functions.require(targetOf(req), { fresh: true });
    return getFunctionOf(fn, regionOf(req));
  });

  app.delete('/2015-03-31/functions/:name', async (req: Named, reply) => {
    await deleteFunction(d, targetOf(req));
    return reply.code(204).send();
  });

  app.put('/2015-03-31/functions/:name/code', async (req: Named) => {
    const name = targetOf(req);
    const current = await d.functions.require(name, { fresh: true });
    const { fn } = await updateFunction(d, name, updatedCodeSpec(current, jsonBody(req)));
    return configurationOf(fn, regionOf(req));
  });
}
