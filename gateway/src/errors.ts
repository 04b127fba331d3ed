import { type ErrorBody, ErrorCatalogue, isErrorCode, ThawError } from '@thaw/shared';
import type { FastifyError, FastifyInstance } from 'fastify';
import { ZodError } from 'zod';

/** Turns anything thrown in a route into a catalogue error. */
export function toThawError(err: unknown): ThawError {
  if (err instanceof ThawError) return err;
  if (err instanceof ZodError) {
    const issue = err.issues[0];
    const field = issue?.path.length ? issue.path.join('.') : '(body)';
    return new ThawError('VALIDATION_FAILED', `${field}: ${issue?.message ?? 'invalid'}`);
  }
  const fe = err as Partial<FastifyError>;
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ThawError('PAYLOAD_TOO_LARGE', fe.message);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ThawError('UNSUPPORTED_MEDIA_TYPE', fe.message);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ThawError('INVALID_JSON', fe.message);
  }
  if (err instanceof SyntaxError && fe.statusCode === 400) return new ThawError('INVALID_JSON', err.message);
  if (fe.statusCode === 413) return new ThawError('PAYLOAD_TOO_LARGE', fe.message);
  if (fe.validation) return new ThawError('VALIDATION_FAILED', fe.message);
  return new ThawError('INTERNAL', undefined, { cause: err });
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => {
    const e = toThawError(err);
    if (e.code === 'INTERNAL') req.log.error({ err }, 'unhandled error');
    const body: ErrorBody = e.toBody();
    // Tells thaw's own errors from a function's answers with the same status, in one header.
    void reply.header('x-thaw-error', e.code);
    // Both pass soon: a client may retry after a second.
    if (e.code === 'OVERLOADED' || e.code === 'FUNCTION_NOT_READY') void reply.header('retry-after', '1');
    void reply.code(e.status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new ThawError('ROUTE_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`);
    void reply.header('x-thaw-error', e.code);
    void reply.code(e.status).send(e.toBody());
  });
}

/** A worker's wire error (code + message) as a ThawError. */
export function fromWire(code: string, message: string): ThawError {
  return new ThawError(isErrorCode(code) ? code : 'INTERNAL', message || ErrorCatalogue.INTERNAL.message);
}
