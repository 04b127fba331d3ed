import { errors, FRAMEWORK_ERRORS, INVOKE, type Json, nameParam, pathParam } from './common.js';

/**
 * The methods OpenAPI 3.1 can describe. The gateway serves every method Node knows except
 * CONNECT (server.ts); the others (PROPFIND, MKCOL, PURGE...) have no place in a 3.1 path item
 * and are named in the description instead.
 */
export const OPENAPI_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const WITH_BODY = new Set(['put', 'post', 'patch', 'delete']);

const ANY_METHOD =
  'Every HTTP method is accepted, including WebDAV and other registered ones (PROPFIND, MKCOL, PURGE...), which OpenAPI 3.1 cannot list; CONNECT is not.';

const anyBody = {
  description: 'Any content type, up to the gateway’s MAX_BODY_BYTES; passed to the function as bytes.',
  content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
};

const tail = pathParam(
  'path',
  'The rest of the path, passed to the function (may contain slashes).',
  'api/items',
);

/** One operation per describable method; operationIds as invokeGet, invokePathPost... */
function everyMethod(idPrefix: string, op: (method: string) => Json): Json {
  return Object.fromEntries(
    OPENAPI_METHODS.map((m) => [
      m,
      {
        operationId: `${idPrefix}${m[0]?.toUpperCase()}${m.slice(1)}`,
        ...op(m),
        ...(WITH_BODY.has(m) ? { requestBody: anyBody } : {}),
      },
    ]),
  );
}

const syncOp = (): Json => ({
  tags: ['Invoke'],
  summary: 'Invoke a function synchronously',
  security: INVOKE,
  responses: {
    default: { description: "The function's own answer: its status, headers and body." },
    ...errors(
      ...FRAMEWORK_ERRORS,
      'UNAUTHORIZED',
      'FUNCTION_NOT_FOUND',
      'PAYLOAD_TOO_LARGE',
      'OVERLOADED',
      'FUNCTION_CRASHED',
      'FUNCTION_START_FAILED',
      'UPSTREAM_ERROR',
      'RESPONSE_TOO_LARGE',
      'WORKER_LOST',
      'IMAGE_PULL_FAILED',
      'FUNCTION_NOT_READY',
      'NO_WORKER',
      'STORE_UNAVAILABLE',
      'FUNCTION_TIMEOUT',
    ),
  },
});

const asyncOp = (): Json => ({
  tags: ['Invoke'],
  summary: 'Invoke a function asynchronously; optional X-Callback-Url receives its answer',
  security: INVOKE,
  parameters: [
    {
      name: 'X-Callback-Url',
      in: 'header',
      description: 'An http(s) URL that receives the function’s answer when the call is done.',
      schema: { type: 'string', format: 'uri' },
    },
  ],
  responses: {
    '202': {
      description: 'Queued; GET the Location (/v1/calls/{callId}) for its outcome.',
      headers: {
        Location: { description: 'The call’s URL.', schema: { type: 'string' } },
        'X-Thaw-Call-Id': { description: 'The call id.', schema: { type: 'string' } },
      },
      content: {
        'application/json': {
          schema: {
            type: 'object',
            properties: { callId: { type: 'string' }, status: { type: 'string', const: 'queued' } },
            required: ['callId', 'status'],
          },
          example: { callId: '42', status: 'queued' },
        },
      },
    },
    ...errors(
      ...FRAMEWORK_ERRORS,
      'UNAUTHORIZED',
      'FUNCTION_NOT_FOUND',
      'VALIDATION_FAILED',
      'PAYLOAD_TOO_LARGE',
      'STORE_UNAVAILABLE',
    ),
  },
});

/** The invoke paths: /fn (answered now) and /async (stored, answered 202). */
export function invokePaths(): Json {
  const sync = `The request (path after /fn/{name}, query, headers, body) reaches the function's HTTP server; its answer comes back. ${ANY_METHOD}`;
  const later = `The request is stored and run later, retried on 5xx and 429. ${ANY_METHOD}`;
  return {
    '/fn/{name}': { description: sync, parameters: [nameParam], ...everyMethod('invoke', syncOp) },
    '/fn/{name}/{path}': {
      description: sync,
      parameters: [nameParam, tail],
      ...everyMethod('invokePath', syncOp),
    },
    '/async/{name}': { description: later, parameters: [nameParam], ...everyMethod('invokeAsync', asyncOp) },
    '/async/{name}/{path}': {
      description: later,
      parameters: [nameParam, tail],
      ...everyMethod('invokeAsyncPath', asyncOp),
    },
  };
}
