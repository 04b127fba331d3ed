import { ErrorCatalogue, type ErrorCode, isErrorCode, ThawError } from '../errors.js';
import { endToEndHeaders, type HeaderMap } from '../headers.js';
import { InvokeHeader } from '../subjects.js';
import { askTiming, type CallTrace } from './timing.js';

// The call's optional per-phase timing and the batching of sends are part of this protocol (the
// index exports this file).
export * from './batch.js';
export * from './direct.js';
export * from './header-block.js';
export * from './timing.js';

/**
 * The invocation wire protocol over NATS, both directions, in one place. A call is one
 * request-reply: the HTTP request in NATS headers (method, path, query, end-to-end headers)
 * with the body as payload; the worker answers twice, first an empty "accepted" message naming
 * itself, then the reply: status and headers in NATS headers with the body as payload, or an
 * error code with the message as payload. Header names: `InvokeHeader` (subjects.ts).
 */

/**
 * The part of a NATS message's headers the codec uses. nats.js's `MsgHdrs` fits as it is
 * (its `get` answers "" for a missing header); the shared package does not depend on nats.
 */
export interface WireHeaders {
  get(name: string): string;
  set(name: string, value: string): void;
}
export type WireHeadersIn = Pick<WireHeaders, 'get'>;

/** What a call carries to the function: the HTTP request, less the route prefix. */
export interface InvokeRequest {
  method: string;
  /** Path after /fn/<name>, always starting with "/". */
  path: string;
  /** Raw query string without "?", may be empty. */
  query: string;
  headers: HeaderMap;
  body: Uint8Array;
  /** Set only on a traced call (THAW_TIMINGS): each side adds its marks (timing.ts). */
  trace?: CallTrace;
  /** The body is a Lambda event (the Lambda Invoke API), not an HTTP request's body. */
  lambdaEvent?: true;
  /**
   * Set on the worker by its admission, never sent: the call waited for an instance started
   * for it. The reply then carries `thaw-cold: 1`.
   */
  cold?: true;
}

/** The function's answer, whatever its status. */
export interface InvokeAnswer {
  ok: true;
  status: number;
  headers: HeaderMap;
  body: Uint8Array;
}

/** The worker failed the call: a catalogue code and a message for the caller. */
export interface InvokeFailure {
  ok: false;
  code: ErrorCode;
  message: string;
}

export type InvokeReply = InvokeAnswer | InvokeFailure;

/** A reply as read back: an answer's body is a Buffer viewing the payload. */
export type DecodedReply = (InvokeAnswer & { body: Buffer }) | InvokeFailure;

/** Status of a reply that carries none (a worker that broke the protocol). */
const MISSING_STATUS = 502;

/** Writes the request into `into` and returns the payload to send with it. */
export function encodeInvokeRequest(req: InvokeRequest, into: WireHeaders): Uint8Array {
  into.set(InvokeHeader.method, req.method);
  into.set(InvokeHeader.path, req.path);
  into.set(InvokeHeader.query, req.query);
  into.set(InvokeHeader.headers, JSON.stringify(req.headers));
  if (req.trace) askTiming(into);
  if (req.lambdaEvent) into.set(InvokeHeader.lambdaEvent, '1');
  return req.body;
}

/**
 * The request a gateway sent, or undefined when the envelope is malformed (no method, headers
 * that are not JSON). Hop-by-hop headers are dropped again: the worker does not trust them.
 */
export function decodeInvokeRequest(
  h: WireHeadersIn | undefined,
  body: Uint8Array,
): InvokeRequest | undefined {
  const method = h?.get(InvokeHeader.method);
  if (!h || !method) return undefined;
  let headers: HeaderMap = {};
  const raw = h.get(InvokeHeader.headers);
  if (raw) {
    try {
      headers = endToEndHeaders(JSON.parse(raw) as HeaderMap);
    } catch {
      return undefined;
    }
  }
  const req: InvokeRequest = {
    method,
    path: h.get(InvokeHeader.path) || '/',
    query: h.get(InvokeHeader.query),
    headers,
    body,
  };
  if (h.get(InvokeHeader.lambdaEvent) === '1') req.lambdaEvent = true;
  return req;
}

/** Writes the reply into `into` and returns the payload to send with it. */
export function encodeInvokeReply(
  reply: InvokeReply,
  into: WireHeaders,
  opts: { saturated?: boolean; cold?: boolean } = {},
): Uint8Array {
  let data: Uint8Array;
  if (reply.ok) {
    into.set(InvokeHeader.status, String(reply.status));
    into.set(InvokeHeader.headers, JSON.stringify(reply.headers));
    data = reply.body;
  } else {
    into.set(InvokeHeader.error, reply.code);
    data = Buffer.from(reply.message);
  }
  if (opts.saturated) into.set(InvokeHeader.saturated, '1');
  if (opts.cold) into.set(InvokeHeader.cold, '1');
  return data;
}

/** A worker's reply. The body is a view of `data`, not a copy. */
export function decodeInvokeReply(h: WireHeadersIn | undefined, data: Uint8Array): DecodedReply {
  const code = h?.get(InvokeHeader.error);
  if (code) {
    const failure = wireError(code, Buffer.from(data).toString());
    return { ok: false, code: failure.code, message: failure.message };
  }
  return {
    ok: true,
    status: Number(h?.get(InvokeHeader.status) || MISSING_STATUS),
    headers: JSON.parse(h?.get(InvokeHeader.headers) || '{}') as HeaderMap,
    body: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  };
}

/** Whether the worker said its pool for the function was full with calls waiting. */
export function isSaturated(h: WireHeadersIn | undefined): boolean {
  return Boolean(h?.get(InvokeHeader.saturated));
}

/** Whether the worker said the call waited for an instance started for it (a cold start). */
export function isCold(h: WireHeadersIn | undefined): boolean {
  return h?.get(InvokeHeader.cold) === '1';
}

/** Marks a message as the worker's acceptance of a call (sent empty, before the reply). */
export function encodeAccepted(workerId: string, into: WireHeaders): void {
  into.set(InvokeHeader.accepted, workerId);
}

/** The id of the worker that took the call, when the message is its acceptance. */
export function acceptedBy(h: WireHeadersIn | undefined): string | undefined {
  return h?.get(InvokeHeader.accepted) || undefined;
}

/**
 * A code and message that came over the wire (invoke, place and import replies) as a
 * ThawError: a code this build does not know becomes INTERNAL.
 */
export function wireError(code: string, message: string): ThawError {
  return new ThawError(isErrorCode(code) ? code : 'INTERNAL', message || ErrorCatalogue.INTERNAL.message);
}

/** A failure reply as the error it stands for. */
export function failureError(f: InvokeFailure): ThawError {
  return new ThawError(f.code, f.message);
}
