import { ThawError } from '@thaw/shared';
import type { FastifyError, FastifyInstance } from 'fastify';
import { ZodError } from 'zod';
import { SignatureError } from './sigv4.js';

/**
 * The Lambda API's errors, shaped as the AWS SDK parses them: the type in `x-amzn-ErrorType`
 * and a JSON body `{ Type, message }` ("User" for the caller's mistakes, "Service" for ours).
 * The SDK maps the type to its exception class (ResourceNotFoundException, ...).
 */
export class LambdaError extends Error {
  override readonly name = 'LambdaError';
  constructor(
    readonly type: string,
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export const notFound = (what: string): LambdaError =>
  new LambdaError('ResourceNotFoundException', 404, `Function not found: ${what}`);
export const invalidParameter = (message: string): LambdaError =>
  new LambdaError('InvalidParameterValueException', 400, message);

/**
 * A thaw error from the control plane or an invocation, as the Lambda API's nearest error
 * (docs/coming-from-lambda.md has the table). Failures of the function itself (timeout, crash,
 * too large an answer) are not errors of the API: lambda/invoke.ts answers them 200 with
 * X-Amz-Function-Error, as Lambda does.
 */
export function lambdaErrorOf(err: ThawError): LambdaError {
  const m = err.message;
  switch (err.code) {
    case 'FUNCTION_NOT_FOUND':
      return new LambdaError('ResourceNotFoundException', 404, m);
    case 'IMAGE_NOT_FOUND':
    case 'VALIDATION_FAILED':
      return invalidParameter(m);
    case 'FUNCTION_EXISTS':
    case 'UPDATE_CONFLICT':
      return new LambdaError('ResourceConflictException', 409, m);
    case 'FUNCTION_NOT_READY':
      // Lambda's answer to a call of a Pending function.
      return new LambdaError('ResourceConflictException', 409, `${m} (State: Pending)`);
    case 'OVERLOADED':
      return new LambdaError('TooManyRequestsException', 429, m, {
        Reason: 'ConcurrentInvocationLimitExceeded',
      });
    case 'PAYLOAD_TOO_LARGE':
      return new LambdaError('RequestTooLargeException', 413, m);
    case 'IMAGE_PULL_FAILED':
    case 'FUNCTION_START_FAILED':
      return new LambdaError('InvalidRuntimeException', 502, m);
    case 'INVALID_JSON':
    case 'BAD_REQUEST':
      return new LambdaError('InvalidRequestContentException', 400, m);
    case 'UNSUPPORTED_MEDIA_TYPE':
      return new LambdaError('UnsupportedMediaTypeException', 415, m);
    default:
      // NO_WORKER, WORKER_LOST, STORE_UNAVAILABLE, INTERNAL: the platform's faults, with their status.
      return new LambdaError('ServiceException', err.status, `${err.code}: ${m}`);
  }
}

function toLambdaError(err: unknown): LambdaError {
  if (err instanceof LambdaError) return err;
  if (err instanceof SignatureError) {
    if (err.kind === 'unknown-key') return new LambdaError('UnrecognizedClientException', 403, err.message);
    if (err.kind === 'missing')
      return new LambdaError('MissingAuthenticationTokenException', 403, err.message);
    return new LambdaError('InvalidSignatureException', 403, err.message);
  }
  if (err instanceof ThawError) return lambdaErrorOf(err);
  if (err instanceof ZodError) {
    const issue = err.issues[0];
    return invalidParameter(`${issue?.path.join('.') || '(body)'}: ${issue?.message ?? 'invalid'}`);
  }
  const fe = err as Partial<FastifyError>;
  if (fe.statusCode === 413)
    return new LambdaError('RequestTooLargeException', 413, fe.message ?? 'too large');
  if (fe.statusCode === 415)
    return new LambdaError('UnsupportedMediaTypeException', 415, fe.message ?? 'unsupported media type');
  // Any other 4xx fastify raised is the request's fault (a malformed header, a bad body), not ours.
  if (fe.statusCode !== undefined && fe.statusCode >= 400 && fe.statusCode < 500)
    return new LambdaError('InvalidRequestContentException', 400, fe.message ?? 'bad request');
  return new LambdaError('ServiceException', 500, 'Internal error');
}

/** This scope's errors in the Lambda API's shape; real faults are logged. */
export function lambdaErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => {
    const e = toLambdaError(err);
    if (e.status >= 500) req.log.error({ err }, 'Lambda API request failed');
    if (e.type === 'TooManyRequestsException') void reply.header('retry-after', '1');
    void reply
      .code(e.status)
      .header('x-amzn-errortype', e.type)
      .header('content-type', 'application/json')
      .send({ Type: e.status < 500 ? 'User' : 'Service', message: e.message, ...e.extra });
  });
}
