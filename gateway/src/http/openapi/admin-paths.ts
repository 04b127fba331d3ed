import {
  ADMIN,
  errors,
  FRAMEWORK_ERRORS,
  type Json,
  jsonBody,
  nameParam,
  pathParam,
  ref,
  response,
} from './common.js';
import { examples } from './schemas.js';

/** Every /v1 operation: the admin token, and Redis behind it. */
const v1 = (op: Json & { errors: Parameters<typeof errors> }): Json => {
  const { errors: codes, responses, ...rest } = op;
  return {
    tags: ['Admin'],
    security: ADMIN,
    ...rest,
    responses: {
      ...(responses as Json),
      ...errors(...FRAMEWORK_ERRORS, 'UNAUTHORIZED', 'STORE_UNAVAILABLE', ...codes),
    },
  };
};

/** The admin API (/v1/*, admin bearer token). */
export function adminPaths(): Json {
  return {
    '/v1/images': {
      post: v1({
        operationId: 'uploadImage',
        summary: 'Upload an image archive (OCI image layout or docker save tar), streamed',
        requestBody: {
          required: true,
          content: {
            'application/x-tar': { schema: { type: 'string', format: 'binary' } },
            'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
          },
        },
        responses: {
          '201': response(
            'Stored and imported; use the digest as a function image.',
            {
              type: 'object',
              properties: { digest: { type: 'string' }, size: { type: 'integer' } },
              required: ['digest', 'size'],
            },
            { digest: examples.digest, size: 3145728 },
          ),
        },
        errors: ['IMAGE_INVALID', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'NO_WORKER'],
      }),
    },
    '/v1/functions': {
      get: v1({
        operationId: 'listFunctions',
        summary: 'List functions',
        responses: {
          '200': response(
            'Every function.',
            {
              type: 'object',
              properties: { functions: { type: 'array', items: ref('FunctionRecord') } },
              required: ['functions'],
            },
            { functions: [examples.record] },
          ),
        },
        errors: [],
      }),
      post: v1({
        operationId: 'createFunction',
        summary: 'Create a function (201 for an uploaded image, 202 pulling for a registry reference)',
        requestBody: { required: true, ...jsonBody(ref('FunctionSpec'), examples.spec) },
        responses: {
          '201': response('Created, from an uploaded image.', ref('FunctionCreated'), examples.record),
          '202': response(
            'Created; its registry image is being pulled (status "pulling").',
            ref('FunctionCreated'),
            {
              ...examples.record,
              image: 'registry.example.com/team/hello:1',
              status: 'pulling',
            },
          ),
        },
        errors: [
          'VALIDATION_FAILED',
          'INVALID_JSON',
          'UNSUPPORTED_MEDIA_TYPE',
          'IMAGE_NOT_FOUND',
          'FUNCTION_EXISTS',
        ],
      }),
    },
    '/v1/functions/{name}': {
      parameters: [nameParam],
      get: v1({
        operationId: 'getFunction',
        summary: 'A function, with its instances per worker',
        responses: {
          '200': response(
            'The function and its instances, from the workers’ heartbeats.',
            ref('FunctionView'),
            {
              ...examples.record,
              workers: [],
              removed: {},
            },
          ),
        },
        errors: ['FUNCTION_NOT_FOUND'],
      }),
      put: v1({
        operationId: 'updateFunction',
        summary: 'Update a function: a new revision replaces the old without failing a call',
        requestBody: { required: true, ...jsonBody(ref('FunctionUpdate'), examples.spec) },
        responses: {
          '200': response('The new revision.', ref('FunctionRecord'), { ...examples.record, revision: 2 }),
        },
        errors: [
          'VALIDATION_FAILED',
          'INVALID_JSON',
          'UNSUPPORTED_MEDIA_TYPE',
          'FUNCTION_NOT_FOUND',
          'IMAGE_NOT_FOUND',
          'UPDATE_CONFLICT',
          'IMAGE_PULL_FAILED',
          'NO_WORKER',
        ],
      }),
      delete: v1({
        operationId: 'deleteFunction',
        summary: 'Delete a function and its instances',
        responses: { '204': { description: 'Deleted.' } },
        errors: ['FUNCTION_NOT_FOUND'],
      }),
    },
    '/v1/functions/{name}/scale-to-zero': {
      parameters: [nameParam],
      post: v1({
        operationId: 'scaleFunctionToZero',
        summary: 'Remove the idle instances above the minimum now, on every worker',
        responses: {
          '202': response(
            'Requested; the workers act on their own instances (GET shows removed.requested).',
            {
              type: 'object',
              properties: {
                name: { type: 'string' },
                requested: { type: 'string', const: 'scale-to-zero' },
                minInstances: { type: 'integer' },
                workers: { type: 'array', items: { type: 'string' } },
                message: { type: 'string' },
              },
              required: ['name', 'requested', 'minInstances', 'workers', 'message'],
            },
            {
              name: 'hello',
              requested: 'scale-to-zero',
              minInstances: 0,
              workers: ['w1'],
              message:
                'every worker removes the idle instances of "hello" above its minimum (0); busy ones stay',
            },
          ),
        },
        errors: ['FUNCTION_NOT_FOUND'],
      }),
    },
    '/v1/functions/{name}/logs': {
      parameters: [
        nameParam,
        {
          name: 'since',
          in: 'query',
          description: 'An ISO 8601 time, or a duration back from now (30s, 5m, 2h, 1d).',
          schema: { type: 'string' },
          example: '5m',
        },
        {
          name: 'limit',
          in: 'query',
          schema: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 },
        },
        {
          name: 'follow',
          in: 'query',
          description: 'Stream new lines.',
          schema: { type: 'string', enum: ['1', 'true'] },
        },
        { name: 'format', in: 'query', schema: { type: 'string', enum: ['text', 'json'], default: 'text' } },
      ],
      get: v1({
        operationId: 'functionLogs',
        summary: "The function's recent stdout and stderr lines; follow=1 streams new ones",
        responses: {
          '200': {
            description: 'Text lines, or NDJSON with format=json.',
            content: {
              'text/plain': {
                schema: { type: 'string' },
                example: '2026-01-01T00:00:00.000Z 0123456789ab stdout: listening on 8080\n',
              },
              'application/x-ndjson': { schema: { type: 'string' } },
            },
          },
        },
        errors: ['FUNCTION_NOT_FOUND', 'VALIDATION_FAILED'],
      }),
    },
    '/v1/stats': {
      parameters: [
        {
          name: 'since',
          in: 'query',
          description: 'How far back: an ISO 8601 time or a duration (30s, 5m, 1h), at most 1h; once.',
          schema: { type: 'string', default: '15m' },
          example: '15m',
        },
        {
          name: 'function',
          in: 'query',
          description:
            'Only these functions: a comma list (the parameter may be repeated), at most 100 names; ' +
            'names without figures are left out. Without it: the 100 functions called last.',
          schema: { type: 'string' },
          example: 'hello,resize',
        },
      ],
      get: v1({
        operationId: 'callStats',
        summary: 'Call figures per function per 10 s: calls, errors, cold starts, rate, p50/p99 latency',
        responses: {
          '200': response('Summed over every gateway; the last bucket is still open.', ref('CallStats'), {
            bucketSeconds: 10,
            from: '2026-01-01T00:00:00.000Z',
            to: '2026-01-01T00:00:14.200Z',
            functions: {
              hello: [
                {
                  t: '2026-01-01T00:00:00.000Z',
                  calls: 120,
                  errors: 1,
                  cold: 1,
                  ratePerSec: 12,
                  p50Ms: 1.734,
                  p99Ms: 310.441,
                },
                {
                  t: '2026-01-01T00:00:10.000Z',
                  calls: 0,
                  errors: 0,
                  cold: 0,
                  ratePerSec: 0,
                  p50Ms: null,
                  p99Ms: null,
                },
              ],
            },
          }),
        },
        errors: ['VALIDATION_FAILED'],
      }),
    },
    '/v1/workers': {
      get: v1({
        operationId: 'listWorkers',
        summary: 'Live workers, from their heartbeats',
        responses: {
          '200': response('The live workers.', {
            type: 'object',
            properties: { workers: { type: 'array', items: ref('WorkerHeartbeat') } },
            required: ['workers'],
          }),
        },
        errors: [],
      }),
    },
    '/v1/calls': {
      parameters: [
        {
          name: 'function',
          in: 'query',
          required: true,
          description: 'The function whose calls to list.',
          schema: { type: 'string' },
          example: 'hello',
        },
        { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
        {
          name: 'status',
          in: 'query',
          schema: { type: 'string', enum: ['queued', 'running', 'retrying', 'succeeded', 'dead'] },
        },
      ],
      get: v1({
        operationId: 'listCalls',
        summary: "A function's calls, async and its schedules' ticks, newest first",
        responses: {
          '200': response(
            "The calls (a schedule's upcoming tick is not one until it is due). A request or answer stored larger than 16 KiB is listed without its body (`response.body` empty, `truncated` true): GET /v1/calls/{callId} has it.",
            {
              type: 'object',
              properties: { calls: { type: 'array', items: ref('CallView') } },
              required: ['calls'],
            },
            {
              calls: [
                {
                  callId: 'hello.s-0123456789.1767225600000',
                  function: 'hello',
                  source: 'schedule',
                  schedule: 'hello.s-0123456789',
                  scheduledAt: '2026-01-01T00:00:00.000Z',
                  status: 'succeeded',
                  attempts: 1,
                  maxAttempts: 3,
                  createdAt: '2026-01-01T00:00:00.000Z',
                },
              ],
            },
          ),
        },
        errors: ['FUNCTION_NOT_FOUND', 'VALIDATION_FAILED'],
      }),
    },
    '/v1/calls/{callId}': {
      parameters: [
        pathParam(
          'callId',
          "The id POST /async/... answered with, or a tick's from GET /v1/calls.",
          'hello.0b9e6a4c-6f1e-4c43-9d7e-2f4b3c1a5d6e',
        ),
      ],
      get: v1({
        operationId: 'getCall',
        summary: "An async call or a schedule's tick: status, tries, the stored answer",
        responses: {
          '200': response('The call.', ref('CallView'), {
            callId: 'hello.0b9e6a4c-6f1e-4c43-9d7e-2f4b3c1a5d6e',
            function: 'hello',
            source: 'async',
            status: 'succeeded',
            attempts: 1,
            maxAttempts: 3,
            createdAt: '2026-01-01T00:00:00.000Z',
          }),
        },
        errors: ['CALL_NOT_FOUND'],
      }),
    },
  };
}
