import { ADMIN, errors, FRAMEWORK_ERRORS, type Json, jsonBody, pathParam, response } from './common.js';

/**
 * The AWS Lambda API's subset thaw serves (src/lambda/, docs/coming-from-lambda.md), and the
 * admin routes that issue its access keys. Lambda errors are AWS's shape, not thaw's.
 */

/** SigV4 has no OpenAPI scheme of its own: the Authorization header, as AWS's own exports name it. */
export const lambdaSecuritySchemes: Json = {
  sigv4: {
    type: 'apiKey',
    in: 'header',
    name: 'Authorization',
    description:
      'AWS Signature Version 4 (AWS4-HMAC-SHA256, service "lambda", any region) with an access key pair from POST /v1/access-keys; X-Amz-Date within 15 minutes. The AWS SDKs and CLI sign this way.',
  },
};

export const lambdaTag = {
  name: 'Lambda',
  description:
    'The AWS Lambda API subset, for @aws-sdk/client-lambda and the AWS CLI (docs/coming-from-lambda.md).',
};

const SIGV4 = [{ sigv4: [] }];

const LambdaErrorSchema: Json = {
  type: 'object',
  properties: {
    Type: { type: 'string', enum: ['User', 'Service'] },
    message: { type: 'string' },
  },
  required: ['Type', 'message'],
};

/** Lambda errors by status: [status, type, when]. The SDK reads the type from X-Amzn-ErrorType. */
function lambdaErrors(...list: [number, string, string][]): Json {
  const all: [number, string, string][] = [
    [403, 'InvalidSignatureException', 'the signature does not match, or X-Amz-Date is past 15 minutes'],
    [403, 'UnrecognizedClientException', 'the access key is unknown or revoked'],
    [403, 'MissingAuthenticationTokenException', 'the request is not signed'],
    [400, 'InvalidRequestContentException', 'the body is not valid JSON, or the request is malformed'],
    [500, 'ServiceException', 'a fault of thaw (its code and status are in the message: NO_WORKER 503, ...)'],
    ...list,
  ];
  const out: Json = {};
  for (const status of [...new Set(all.map(([s]) => s))].sort()) {
    const mine = all.filter(([s]) => s === status);
    out[String(status)] = {
      description: mine.map(([, type, when]) => `${type}: ${when}.`).join(' '),
      headers: {
        'X-Amzn-ErrorType': {
          description: 'The error type.',
          schema: { type: 'string', enum: mine.map(([, t]) => t) },
        },
      },
      content: {
        'application/json': {
          schema: LambdaErrorSchema,
          examples: Object.fromEntries(
            mine.map(([, type, when]) => [
              type,
              { summary: when, value: { Type: status < 500 ? 'User' : 'Service', message: when } },
            ]),
          ),
        },
      },
    };
  }
  return out;
}

const NOT_FOUND: [number, string, string] = [404, 'ResourceNotFoundException', 'no function with that name'];
const BAD_PARAMETER: [number, string, string] = [
  400,
  'InvalidParameterValueException',
  'a field is not valid',
];
const CONFLICT: [number, string, string] = [
  409,
  'ResourceConflictException',
  'the function exists already, or another update runs',
];

const functionName = pathParam(
  'name',
  'The function name, or its ARN (arn:aws:lambda:<region>:000000000000:function:<name>), optionally with :$LATEST.',
  'hello',
);
const qualifier: Json = {
  name: 'Qualifier',
  in: 'query',
  description: 'Only $LATEST: thaw keeps no versions or aliases.',
  schema: { type: 'string', enum: ['$LATEST'] },
};

const FunctionConfiguration: Json = {
  type: 'object',
  description: 'Lambda’s FunctionConfiguration, for a thaw function.',
  properties: {
    FunctionName: { type: 'string' },
    FunctionArn: { type: 'string' },
    PackageType: { type: 'string', enum: ['Image'] },
    CodeSha256: { type: 'string', description: 'The image digest’s hex part.' },
    MemorySize: { type: 'integer' },
    Timeout: { type: 'integer', description: 'Seconds.' },
    EphemeralStorage: { type: 'object', properties: { Size: { type: 'integer' } } },
    Environment: {
      type: 'object',
      properties: { Variables: { type: 'object', additionalProperties: { type: 'string' } } },
    },
    LastModified: { type: 'string' },
    Version: { type: 'string', enum: ['$LATEST'] },
    RevisionId: { type: 'string' },
    State: { type: 'string', enum: ['Active', 'Pending', 'Failed'] },
    LastUpdateStatus: { type: 'string', enum: ['Successful', 'InProgress', 'Failed'] },
    StateReason: { type: 'string' },
    Architectures: { type: 'array', items: { type: 'string' } },
  },
  required: ['FunctionName', 'FunctionArn', 'PackageType', 'State'],
};

const configurationExample = {
  FunctionName: 'hello',
  FunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:hello',
  PackageType: 'Image',
  State: 'Active',
  MemorySize: 128,
  Timeout: 30,
};

const lambdaOp = (op: Json & { errors: [number, string, string][] }): Json => {
  const { errors: list, responses, ...rest } = op;
  return {
    tags: ['Lambda'],
    security: SIGV4,
    ...rest,
    responses: { ...(responses as Json), ...lambdaErrors(...list) },
  };
};

const payload = {
  description: 'The event: any bytes, JSON by convention, up to the gateway’s MAX_BODY_BYTES.',
  content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
};

function lambdaApiPaths(): Json {
  return {
    '/2015-03-31/functions': {
      post: lambdaOp({
        operationId: 'lambdaCreateFunction',
        summary:
          'CreateFunction: PackageType Image only; tag thaw:protocol=http for a plain HTTP server image',
        requestBody: {
          required: true,
          ...jsonBody(
            {
              type: 'object',
              properties: {
                FunctionName: { type: 'string' },
                PackageType: { type: 'string', enum: ['Image'] },
                Code: {
                  type: 'object',
                  properties: { ImageUri: { type: 'string' } },
                  required: ['ImageUri'],
                },
                MemorySize: { type: 'integer' },
                Timeout: { type: 'integer', minimum: 1, maximum: 900 },
                EphemeralStorage: { type: 'object', properties: { Size: { type: 'integer' } } },
                Environment: {
                  type: 'object',
                  properties: { Variables: { type: 'object', additionalProperties: { type: 'string' } } },
                },
                Tags: { type: 'object', additionalProperties: { type: 'string' } },
              },
              required: ['FunctionName', 'PackageType', 'Code'],
            },
            {
              FunctionName: 'hello',
              PackageType: 'Image',
              Code: { ImageUri: 'registry.example.com/team/hello:1' },
            },
          ),
        },
        responses: {
          '201': response(
            'Created (State Pending while a registry image is pulled).',
            FunctionConfiguration,
            configurationExample,
          ),
        },
        errors: [BAD_PARAMETER, CONFLICT],
      }),
      get: lambdaOp({
        operationId: 'lambdaListFunctions',
        summary:
          'ListFunctions, by name, in pages (the SDK sends it as /2015-03-31/functions/, served the same)',
        parameters: [
          {
            name: 'Marker',
            in: 'query',
            description: 'NextMarker of the page before.',
            schema: { type: 'string' },
          },
          {
            name: 'MaxItems',
            in: 'query',
            description: 'Page size (default 50).',
            schema: { type: 'integer', minimum: 1, maximum: 10000 },
          },
        ],
        responses: {
          '200': response(
            'A page of functions.',
            {
              type: 'object',
              properties: {
                Functions: { type: 'array', items: FunctionConfiguration },
                NextMarker: { type: 'string' },
              },
              required: ['Functions'],
            },
            { Functions: [configurationExample] },
          ),
        },
        errors: [BAD_PARAMETER],
      }),
    },
    '/2015-03-31/functions/{name}': {
      get: lambdaOp({
        operationId: 'lambdaGetFunction',
        summary: 'GetFunction',
        parameters: [functionName, qualifier],
        responses: {
          '200': response(
            'The function.',
            {
              type: 'object',
              properties: {
                Configuration: FunctionConfiguration,
                Code: {
                  type: 'object',
                  properties: {
                    RepositoryType: { type: 'string' },
                    ImageUri: { type: 'string' },
                    ResolvedImageUri: { type: 'string' },
                  },
                },
                Tags: { type: 'object', additionalProperties: { type: 'string' } },
              },
            },
            {
              Configuration: configurationExample,
              Code: { RepositoryType: 'registry', ImageUri: 'registry.example.com/team/hello:1' },
            },
          ),
        },
        errors: [NOT_FOUND, BAD_PARAMETER],
      }),
      delete: lambdaOp({
        operationId: 'lambdaDeleteFunction',
        summary: 'DeleteFunction (its queued Event calls are dropped)',
        parameters: [functionName, qualifier],
        responses: { '204': { description: 'Deleted.' } },
        errors: [NOT_FOUND, BAD_PARAMETER],
      }),
    },
    '/2015-03-31/functions/{name}/invocations': {
      post: lambdaOp({
        operationId: 'lambdaInvoke',
        summary: 'Invoke: RequestResponse (200), Event (202, the async queue) or DryRun (204)',
        parameters: [
          functionName,
          qualifier,
          {
            name: 'X-Amz-Invocation-Type',
            in: 'header',
            schema: { type: 'string', enum: ['RequestResponse', 'Event', 'DryRun'] },
          },
          {
            name: 'X-Amz-Log-Type',
            in: 'header',
            description: 'Tail: the last 4 KB of the log in X-Amz-Log-Result (Lambda runtime functions).',
            schema: { type: 'string', enum: ['None', 'Tail'] },
          },
          {
            name: 'X-Amz-Client-Context',
            in: 'header',
            description: 'Base64 JSON, passed to the function.',
            schema: { type: 'string' },
          },
        ],
        requestBody: payload,
        responses: {
          '200': {
            description:
              'The function’s answer; with X-Amz-Function-Error the body is {errorMessage, errorType} (the function failed, timed out, crashed or answered too much).',
            headers: {
              'X-Amz-Function-Error': { schema: { type: 'string', enum: ['Unhandled'] } },
              'X-Amz-Log-Result': {
                description: 'Base64, with X-Amz-Log-Type Tail.',
                schema: { type: 'string' },
              },
              'X-Amz-Executed-Version': { schema: { type: 'string', enum: ['$LATEST'] } },
            },
            content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
          },
          '202': {
            description: 'Event: queued; GET /v1/calls/{X-Thaw-Call-Id} shows how it went.',
            headers: {
              'X-Thaw-Call-Id': { schema: { type: 'string' } },
              'X-Amzn-RequestId': { schema: { type: 'string' } },
            },
          },
          '204': { description: 'DryRun: the function exists and the caller may invoke it.' },
        },
        errors: [
          NOT_FOUND,
          BAD_PARAMETER,
          [409, 'ResourceConflictException', 'the function is Pending (its image is being pulled)'],
          [413, 'RequestTooLargeException', 'the payload is larger than MAX_BODY_BYTES'],
          [
            429,
            'TooManyRequestsException',
            'the function is at its instances and its queue cannot drain in time',
          ],
          [502, 'InvalidRuntimeException', 'the image could not be pulled or started'],
        ],
      }),
    },
    '/2015-03-31/functions/{name}/code': {
      put: lambdaOp({
        operationId: 'lambdaUpdateFunctionCode',
        summary: 'UpdateFunctionCode: a new ImageUri (the next revision rolls out without failing calls)',
        parameters: [functionName],
        requestBody: {
          required: true,
          ...jsonBody(
            { type: 'object', properties: { ImageUri: { type: 'string' } }, required: ['ImageUri'] },
            { ImageUri: 'registry.example.com/team/hello:2' },
          ),
        },
        responses: { '200': response('Updated.', FunctionConfiguration, configurationExample) },
        errors: [NOT_FOUND, BAD_PARAMETER, CONFLICT],
      }),
    },
  };
}

const AccessKeyView: Json = {
  type: 'object',
  properties: {
    accessKeyId: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    description: { type: 'string' },
  },
  required: ['accessKeyId', 'createdAt'],
};

const keyExample = { accessKeyId: 'TKIAEXAMPLEEXAMPLE23', createdAt: '2026-01-01T00:00:00.000Z' };

const adminOp = (op: Json & { codes: Parameters<typeof errors> }): Json => {
  const { codes, responses, ...rest } = op;
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

function accessKeyPaths(): Json {
  return {
    '/v1/access-keys': {
      post: adminOp({
        operationId: 'issueAccessKey',
        summary: 'Issue an access key pair for the Lambda API (the secret is shown here only)',
        requestBody: jsonBody({
          type: 'object',
          properties: { description: { type: 'string', maxLength: 256 } },
        }),
        responses: {
          '201': response(
            'The new pair.',
            {
              ...AccessKeyView,
              properties: { ...(AccessKeyView.properties as Json), secretAccessKey: { type: 'string' } },
            },
            { ...keyExample, secretAccessKey: 'wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY00' },
          ),
        },
        codes: ['VALIDATION_FAILED', 'INVALID_JSON'],
      }),
      get: adminOp({
        operationId: 'listAccessKeys',
        summary: 'List access keys (ids only, never secrets)',
        responses: {
          '200': response(
            'The keys.',
            {
              type: 'object',
              properties: { accessKeys: { type: 'array', items: AccessKeyView } },
              required: ['accessKeys'],
            },
            { accessKeys: [keyExample] },
          ),
        },
        codes: [],
      }),
    },
    '/v1/access-keys/{id}': {
      delete: adminOp({
        operationId: 'revokeAccessKey',
        summary: 'Revoke an access key (gateways stop taking it within 5 s)',
        parameters: [pathParam('id', 'The access key id.', keyExample.accessKeyId)],
        responses: { '204': { description: 'Revoked.' } },
        codes: ['VALIDATION_FAILED'],
      }),
    },
  };
}

/** The Lambda API's paths and the access key routes. */
export function lambdaPaths(): Json {
  return { ...lambdaApiPaths(), ...accessKeyPaths() };
}
