import type { components } from './generated/openapi.js';

/** A catalogue error body: `{ error: { code, message } }` (docs/errors.md). */
export type ErrorBody = components['schemas']['Error'];
/** A code of the error catalogue. */
export type ErrorCode = ErrorBody['error']['code'];

/** The gateway answered an error; `code` is the catalogue's, or HTTP_ERROR when the body had none. */
export class ThawApiError extends Error {
  override readonly name = 'ThawApiError';
  readonly status: number;
  readonly code: ErrorCode | 'HTTP_ERROR';
  /** The catalogue message (without status and code). */
  readonly detail: string;
  constructor(o: { status: number; code: ErrorCode | 'HTTP_ERROR'; message: string }) {
    super(`${o.status} ${o.code}: ${o.message}`);
    this.status = o.status;
    this.code = o.code;
    this.detail = o.message;
  }
}

/** The gateway could not be reached at all (refused, DNS, reset); the fetch error is the cause. */
export class ThawUnreachableError extends Error {
  override readonly name = 'ThawUnreachableError';
  constructor(
    readonly baseUrl: string,
    options: { cause: unknown },
  ) {
    const c = options.cause as { cause?: unknown; message?: string } | undefined;
    super(`cannot reach the gateway at ${baseUrl} (${String(c?.cause ?? c?.message ?? c)})`, options);
  }
}

export const isThawApiError = (err: unknown): err is ThawApiError => err instanceof ThawApiError;
export const isThawUnreachableError = (err: unknown): err is ThawUnreachableError =>
  err instanceof ThawUnreachableError;

function isErrorBody(v: unknown): v is ErrorBody {
  const e = (v as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return typeof e?.code === 'string' && typeof e.message === 'string';
}

/**
 * The error of an answer: its catalogue body when it has one; else the x-thaw-error header
 * (HEAD answers carry no body) and the text as it is.
 */
export function apiError(response: Response, body: unknown): ThawApiError {
  if (isErrorBody(body))
    return new ThawApiError({ status: response.status, code: body.error.code, message: body.error.message });
  const header = response.headers.get('x-thaw-error') as ErrorCode | null;
  const text = typeof body === 'string' ? body : body === undefined ? '' : JSON.stringify(body);
  return new ThawApiError({
    status: response.status,
    code: header ?? 'HTTP_ERROR',
    message: text || response.statusText,
  });
}

/** Reads an error answer's body (once) into a ThawApiError. */
export async function readApiError(response: Response): Promise<ThawApiError> {
  const text = await response.text().catch(() => '');
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: the text is the message
  }
  return apiError(response, body);
}

/**
 * The data of an openapi-fetch result, or its error thrown as a ThawApiError:
 * `const fn = unwrap(await client.GET(...))`.
 */
export function unwrap<D>(result: { data?: D; error?: unknown; response: Response }): D {
  if (result.response.ok) return result.data as D;
  throw apiError(result.response, result.error);
}
