import { ErrorCatalogue, errorCodes, FunctionRecord, FunctionSpec, WorkerHeartbeat } from '@thaw/shared';
import { z } from 'zod';

type Json = Record<string, unknown>;

/** A zod schema as an OpenAPI 3.1 (JSON Schema 2020-12) schema object. */
function schema(s: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Json;
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const jsonBody = (s: Json) => ({ content: { 'application/json': { schema: s } } });
const errors = (...codes: (keyof typeof ErrorCatalogue)[]) =>
  Object.fromEntries(
    [...new Set(codes.map((c) => ErrorCatalogue[c].status))].map((status) => [
      String(status),
      {
        description: codes
          .filter((c) => ErrorCatalogue[c].status === status)
          .map((c) => `${c}: ${ErrorCatalogue[c].message}`)
          .join(' '),
        ...jsonBody(ref('Error')),
      },
    ]),
  );
const nameParam = { name: 'name', in: 'path', required: true, schema: { type: 'string' } };

/**
 * The API description, generated from the same zod schemas that validate requests, so it
 * cannot drift from what the gateway accepts. Served at GET /openapi.json.
 */
export function openApiDocument(): Json {
  const FunctionView = FunctionRecord.extend({
    workers: z.array(
      z.object({
        worker: z.string(),
        draining: z.boolean(),
        starting: z.number().int(),
        instances: WorkerHeartbeat.shape.functions.element.shape.instances,
      }),
    ),
  });
  return {
    openapi: '3.1.0',
    info: {
      title: 'thaw',
      version: '0.1.0',
      description: 'Serverless container functions: deploy an OCI image, invoke it over HTTP.',
    },
    paths: {
      '/v1/images': {
        post: {
          summary: 'Upload an image archive (OCI image layout or docker save tar), streamed',
          requestBody: {
            required: true,
            content: { 'application/x-tar': { schema: { type: 'string', format: 'binary' } } },
          },
          responses: {
            '201': jsonBody({
              type: 'object',
              properties: { digest: { type: 'string' }, size: { type: 'integer' } },
              required: ['digest', 'size'],
            }),
            ...errors('IMAGE_INVALID', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'NO_WORKER'),
          },
        },
      },
      '/v1/functions': {
        get: {
          summary: 'List functions',
          responses: {
            '200': jsonBody({
              type: 'object',
              properties: { functions: { type: 'array', items: ref('FunctionRecord') } },
            }),
          },
        },
        post: {
          summary: 'Create a function (201 for an uploaded image, 202 pulling for a registry reference)',
          requestBody: { required: true, ...jsonBody(ref('FunctionSpec')) },
          responses: {
            '201': jsonBody(ref('FunctionRecord')),
            '202': jsonBody(ref('FunctionRecord')),
            ...errors('VALIDATION_FAILED', 'INVALID_JSON', 'IMAGE_NOT_FOUND', 'FUNCTION_EXISTS'),
          },
        },
      },
      '/v1/functions/{name}': {
        parameters: [nameParam],
        get: {
          summary: 'A function, with its instances per worker',
          responses: { '200': jsonBody(ref('FunctionView')), ...errors('FUNCTION_NOT_FOUND') },
        },
        put: {
          summary: 'Update a function: a new revision replaces the old without failing a call',
          requestBody: { required: true, ...jsonBody(ref('FunctionSpec')) },
          responses: {
            '200': jsonBody(ref('FunctionRecord')),
            ...errors(
              'VALIDATION_FAILED',
              'FUNCTION_NOT_FOUND',
              'IMAGE_NOT_FOUND',
              'UPDATE_CONFLICT',
              'IMAGE_PULL_FAILED',
            ),
          },
        },
        delete: {
          summary: 'Delete a function and its instances',
          responses: { '204': { description: 'Deleted.' }, ...errors('FUNCTION_NOT_FOUND') },
        },
      },
      '/v1/workers': {
        get: {
          summary: 'Live workers, from their heartbeats',
          responses: {
            '200': jsonBody({
              type: 'object',
              properties: { workers: { type: 'array', items: ref('WorkerHeartbeat') } },
            }),
          },
        },
      },
      '/fn/{name}/{path}': {
        parameters: [nameParam, { name: 'path', in: 'path', required: true, schema: { type: 'string' } }],
        description:
          "Any method: the path after /fn/{name}, query, headers and body (up to 6 MiB) reach the function's HTTP server; its answer comes back.",
        get: {
          summary: 'Invoke a function synchronously (every method is accepted)',
          responses: {
            default: { description: "The function's own answer." },
            ...errors(
              'FUNCTION_NOT_FOUND',
              'PAYLOAD_TOO_LARGE',
              'FUNCTION_TIMEOUT',
              'OVERLOADED',
              'WORKER_LOST',
              'FUNCTION_NOT_READY',
            ),
          },
        },
      },
      '/async/{name}/{path}': {
        parameters: [nameParam, { name: 'path', in: 'path', required: true, schema: { type: 'string' } }],
        post: {
          summary: 'Invoke a function asynchronously (every method is accepted); optional X-Callback-Url',
          responses: {
            '202': jsonBody({
              type: 'object',
              properties: { callId: { type: 'string' }, status: { type: 'string', const: 'queued' } },
            }),
            ...errors('FUNCTION_NOT_FOUND', 'VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE'),
          },
        },
      },
      '/v1/calls/{callId}': {
        parameters: [{ name: 'callId', in: 'path', required: true, schema: { type: 'string' } }],
        get: {
          summary: 'An async call: status, tries, the stored answer',
          responses: {
            '200': jsonBody({
              type: 'object',
              properties: {
                callId: { type: 'string' },
                function: { type: 'string' },
                status: { type: 'string', enum: ['queued', 'running', 'retrying', 'succeeded', 'dead'] },
                attempts: { type: 'integer' },
                maxAttempts: { type: 'integer' },
                response: { type: 'object' },
                error: { type: 'string' },
              },
            }),
            ...errors('CALL_NOT_FOUND'),
          },
        },
      },
      '/v1/functions/{name}/logs': {
        parameters: [
          nameParam,
          { name: 'since', in: 'query', schema: { type: 'string' } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 10000 } },
          { name: 'follow', in: 'query', schema: { type: 'string', enum: ['1', 'true'] } },
          { name: 'format', in: 'query', schema: { type: 'string', enum: ['text', 'json'] } },
        ],
        get: {
          summary: "The function's recent stdout and stderr lines; follow=1 streams new ones",
          responses: {
            '200': { description: 'Text lines, or NDJSON with format=json', content: { 'text/plain': {} } },
            ...errors('FUNCTION_NOT_FOUND', 'VALIDATION_FAILED'),
          },
        },
      },
      '/livez': {
        get: { summary: 'Liveness: the process answers', responses: { '200': { description: 'OK' } } },
      },
      '/readyz': {
        get: {
          summary: 'Readiness: NATS connected and Redis ready',
          responses: { '200': { description: 'OK' }, '503': { description: 'NATS or Redis unreachable' } },
        },
      },
      '/healthz': {
        get: {
          summary: 'Readiness (older name of /readyz)',
          responses: { '200': { description: 'OK' }, '503': { description: 'NATS or Redis unreachable' } },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics',
          responses: { '200': { description: 'Prometheus text format' } },
        },
      },
    },
    components: {
      schemas: {
        FunctionSpec: schema(FunctionSpec, 'input'),
        FunctionRecord: schema(FunctionRecord, 'output'),
        FunctionView: schema(FunctionView, 'output'),
        WorkerHeartbeat: schema(WorkerHeartbeat, 'output'),
        Error: {
          type: 'object',
          properties: {
            error: {
              type: 'object',
              properties: { code: { type: 'string', enum: errorCodes }, message: { type: 'string' } },
              required: ['code', 'message'],
            },
          },
          required: ['error'],
        },
      },
    },
  };
}
