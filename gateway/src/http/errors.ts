import { maxHeaderSize, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { type ErrorBody, type ErrorCode, ThawError } from '@thaw/shared';
import type {
  ConnectionError,
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifyServerOptions,
} from 'fastify';
import { ZodError } from 'zod';

/** Longest name or id in a path: function names have at most 48 characters, call ids (<name>.<uuid>) 85. */
export const MAX_PARAM_LENGTH = 100;

/** Turns anything thrown in a route into a catalogue error. */
export function toThawError(err: unknown, req?: Pick<FastifyRequest, 'headers' | 'url'>): ThawError {
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
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': {
      const type = req?.headers['content-type'];
      const takes = req?.url.startsWith('/v1/images')
        ? 'image uploads take application/x-tar or application/octet-stream'
        : 'the API takes application/json (the invoke paths /fn/ and /async/ take any)';
      return new ThawError(
        'UNSUPPORTED_MEDIA_TYPE',
        `${type ? `content type "${type}"` : 'a body without a content type'} is not taken here: ${takes}`,
      );
    }
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ThawError('INVALID_JSON', fe.message);
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ThawError(
        'URI_TOO_LONG',
        `a name or id in the path is longer than ${MAX_PARAM_LENGTH} characters (function names have at most 48)`,
      );
    case 'FST_ERR_BAD_URL':
      return new ThawError('BAD_REQUEST', `${fe.message}: a %-escape in it does not decode`);
  }
  if (err instanceof SyntaxError && fe.statusCode === 400) return new ThawError('INVALID_JSON', err.message);
  if (fe.statusCode === 413) return new ThawError('PAYLOAD_TOO_LARGE', fe.message);
  if (fe.validation) return new ThawError('VALIDATION_FAILED', fe.message);
  // Other faults fastify finds in a request (a bad Content-Length, say) are the client's, not ours.
  if (fe.statusCode === 400 && fe.code?.startsWith('FST_')) return new ThawError('BAD_REQUEST', fe.message);
  return new ThawError('INTERNAL', undefined, { cause: err });
}

/** The one way every error answer of a route is made: catalogue body, status and headers. */
function sendError(req: FastifyRequest, reply: FastifyReply, e: ThawError): void {
  const body: ErrorBody = e.toBody();
  // Tells thaw's own errors from a function's answers with the same status, in one header.
  void reply.header('x-thaw-error', e.code);
  const retryAfter = RETRY_AFTER_S[e.code];
  if (retryAfter) void reply.header('retry-after', String(retryAfter));
  // RFC 6750 §3: the scheme to use; "invalid_token" only when a token was sent (§3.1).
  if (e.code === 'UNAUTHORIZED') {
    void reply.header(
      'www-authenticate',
      req.headers.authorization ? 'Bearer realm="thaw", error="invalid_token"' : 'Bearer realm="thaw"',
    );
  }
  void reply.code(e.status).send(body);
}

/**
 * Errors that pass by themselves, and when a client may try again (seconds): a full pool or a
 * pull frees up within a second; ioredis retries Redis every 2 s at most; a JetStream leader
 * election takes a few seconds.
 */
const RETRY_AFTER_S: Partial<Record<ErrorCode, number>> = {
  OVERLOADED: 1,
  FUNCTION_NOT_READY: 1,
  STORE_UNAVAILABLE: 3,
  IMAGE_STORE_UNAVAILABLE: 3,
};

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => {
    const e = toThawError(err, req);
    if (e.code === 'INTERNAL') req.log.error({ err }, 'unhandled error');
    sendError(req, reply, e);
  });
  app.setNotFoundHandler((req, reply) => {
    sendError(
      req,
      reply,
      new ThawError('ROUTE_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`),
    );
  });
}

/**
 * Errors fastify's router answers before any route or hook (a path that does not decode, a
 * too long parameter): without this they come back in fastify's own shape.
 */
export const frameworkErrors: NonNullable<FastifyServerOptions['frameworkErrors']> = (err, req, reply) => {
  sendError(req, reply, toThawError(err, req));
};

/**
 * Node's HTTP parser gives up on a request (malformed, headers over the limit, too slow) before
 * fastify sees it: there is no request nor reply, so the answer is written on the socket as it
 * is. The connection is closed after it: what follows on it cannot be parsed.
 */
export function clientErrorHandler(err: ConnectionError, socket: Socket): void {
  // A reset connection has nobody to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const e = clientErrorOf(err);
  const body = JSON.stringify(e.toBody());
  // As Node does: a response already under way on this connection cannot be followed by another.
  const current = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !current?.headersSent) {
    socket.write(
      [
        `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? ''}`,
        'content-type: application/json; charset=utf-8',
        `content-length: ${Buffer.byteLength(body)}`,
        `x-thaw-error: ${e.code}`,
        'connection: close',
        '',
        body,
      ].join('\r\n'),
    );
  }
  socket.destroy();
}

function clientErrorOf(err: ConnectionError): ThawError {
  switch (err.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ThawError('REQUEST_TIMEOUT', 'the request did not arrive in time; the connection is closed');
    case 'HPE_HEADER_OVERFLOW':
      return new ThawError(
        'HEADERS_TOO_LARGE',
        `the request line and headers are larger than ${maxHeaderSize} bytes; the connection is closed`,
      );
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new ThawError('PAYLOAD_TOO_LARGE', 'the chunk extensions of the body are too large');
  }
  // Node's parser says what it found wrong ("Invalid header token", "Invalid method encountered").
  const reason = (err as ConnectionError & { reason?: unknown }).reason;
  const why = typeof reason === 'string' && reason ? reason : err.message.replace(/^Parse Error:\s*/, '');
  return new ThawError('BAD_REQUEST', `the HTTP request is malformed: ${why}; the connection is closed`);
}

/**
 * The API's JSON parser. A key "__proto__" (or "constructor" holding "prototype") could
 * change the prototype of objects built from the body, so it is refused, like fastify does,
 * but with a message that names the key: the body is valid JSON, and saying otherwise misleads.
 */
export function parseJsonBody(
  _req: FastifyRequest,
  body: string | Buffer,
  done: (err: Error | null, value?: unknown) => void,
): void {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (text.trim() === '') {
    done(new ThawError('INVALID_JSON', 'the body is empty, yet its content type is application/json'));
    return;
  }
  let refused: string | undefined;
  let value: unknown;
  try {
    value = JSON.parse(text, (key, v: unknown) => {
      if (key === '__proto__') refused ??= '"__proto__"';
      else if (key === 'constructor' && typeof v === 'object' && v !== null && Object.hasOwn(v, 'prototype'))
        refused ??= '"constructor" holding a key "prototype"';
      return v;
    });
  } catch (err) {
    done(new ThawError('INVALID_JSON', `the body is not valid JSON: ${(err as Error).message}`));
    return;
  }
  if (refused) {
    done(
      new ThawError(
        'VALIDATION_FAILED',
        `the body holds a key ${refused}, which is refused at any depth (it could change the prototype of objects built from it)`,
      ),
    );
    return;
  }
  done(null, value);
}
