/**
 * The one catalogue of error codes thaw answers with. The HTTP API renders every failure as
 * `{ "error": { "code", "message" } }` with the status given here; workers send the same codes
 * back over NATS so that the gateway never has to guess what went wrong.
 * Every code is documented in docs/errors.md (a test checks that).
 */
export const ErrorCatalogue = {
  UNAUTHORIZED: {
    status: 401,
    message: 'A valid bearer token is needed (Authorization: Bearer <token>).',
  },
  VALIDATION_FAILED: { status: 400, message: 'The request is not valid.' },
  BAD_REQUEST: { status: 400, message: 'The HTTP request is malformed.' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request did not arrive in time.' },
  URI_TOO_LONG: { status: 414, message: 'A part of the request path is longer than the limit.' },
  HEADERS_TOO_LARGE: { status: 431, message: "The request's headers are larger than the limit." },
  INVALID_JSON: { status: 400, message: 'The request body is not valid JSON.' },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    message: 'The request body has a content type this endpoint does not take.',
  },
  IMAGE_INVALID: { status: 400, message: 'The uploaded file is not a valid OCI image.' },
  IMAGE_NOT_FOUND: { status: 404, message: 'No image with that digest has been uploaded.' },
  IMAGE_PULL_FAILED: { status: 502, message: 'The image could not be pulled from its registry.' },
  FUNCTION_NOT_READY: { status: 503, message: 'The function is not ready yet (its image is being pulled).' },
  FUNCTION_NOT_FOUND: { status: 404, message: 'No function with that name.' },
  FUNCTION_EXISTS: { status: 409, message: 'A function with that name exists already.' },
  UPDATE_CONFLICT: {
    status: 409,
    message: 'The function was changed by another request while this update ran.',
  },
  CALL_NOT_FOUND: {
    status: 404,
    message: 'No async call with that id (or its result has expired).',
  },
  ROUTE_NOT_FOUND: { status: 404, message: 'No such route.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is larger than the limit.' },
  FUNCTION_TIMEOUT: { status: 504, message: 'The function did not answer within its timeout.' },
  FUNCTION_CRASHED: { status: 502, message: 'The function instance crashed while serving the request.' },
  FUNCTION_ERROR: { status: 502, message: "The function's Lambda runtime reported an error." },
  FUNCTION_START_FAILED: { status: 502, message: 'The function instance did not start.' },
  UPSTREAM_ERROR: { status: 502, message: 'The function instance closed the connection without answering.' },
  RESPONSE_TOO_LARGE: { status: 502, message: "The function's response is larger than the limit." },
  OVERLOADED: { status: 429, message: 'The function is at its maximum instances and its queue is full.' },
  WORKER_LOST: {
    status: 502,
    message: 'The worker serving the call stopped before it answered; the call may have run in part.',
  },
  NO_WORKER: { status: 503, message: 'No worker is available to run the function.' },
  IMAGE_STORE_UNAVAILABLE: {
    status: 503,
    message: 'The image store (NATS JetStream) is not answering right now.',
  },
  STORE_UNAVAILABLE: {
    status: 503,
    message: 'The gateway cannot reach its store (Redis) right now.',
  },
  INTERNAL: { status: 500, message: 'Internal error.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ErrorCatalogue;

export const errorCodes = Object.keys(ErrorCatalogue) as ErrorCode[];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ErrorCatalogue, value);
}

/** The body every HTTP error is rendered as. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

/** An error that carries a catalogue code; anything else is rendered as INTERNAL. */
export class ThawError extends Error {
  override readonly name = 'ThawError';
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ErrorCatalogue[code].message, options);
    this.code = code;
  }
  get status(): number {
    return ErrorCatalogue[this.code].status;
  }
  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}

export function isThawError(err: unknown): err is ThawError {
  return err instanceof ThawError;
}
