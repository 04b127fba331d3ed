import { type HeaderMap, InvokeHeader, ThawError } from '@thaw/shared';
import { type MsgHdrs, headers as natsHeaders } from 'nats';
import type { Answer, Envelope } from '../calls/types.js';

/** What a message brings to its call. */
export interface Incoming {
  subject: string;
  data: Uint8Array;
  headers?: MsgHdrs | undefined;
}

/** How it came: a core NATS subject, or a JetStream stream (with its sequence and delivery). */
export type Source =
  | { type: 'nats' }
  | { type: 'jetstream'; stream: string; sequence: number; delivery: number };

/** A message header the function sees as `x-nats-header-<lower-cased name>`. */
export const FORWARDED_HEADER_PREFIX = 'x-nats-header-';
/** An HTTP header name (RFC 9110 token): other NATS header names are not forwarded. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/**
 * A message as the call its function gets: POST to the trigger's path (a "?" in it starts the
 * query), the message data as the body, `x-thaw-trigger`, `x-nats-subject` (and for a stream
 * `x-nats-stream`, `x-nats-sequence`, `x-nats-delivery`), the message's `content-type` header as
 * the content type, and every header of the message as `x-nats-header-<name>` (docs/triggers.md).
 */
export function envelopeOf(msg: Incoming, path: string, source: Source): Envelope {
  const q = path.indexOf('?');
  const headers: HeaderMap = { 'x-thaw-trigger': source.type, 'x-nats-subject': msg.subject };
  if (source.type === 'jetstream') {
    headers['x-nats-stream'] = source.stream;
    headers['x-nats-sequence'] = String(source.sequence);
    headers['x-nats-delivery'] = String(source.delivery);
  }
  for (const key of msg.headers?.keys() ?? []) {
    const name = key.toLowerCase();
    const values = (msg.headers?.values(key) ?? []).filter((v) => !/[\r\n\0]/.test(v));
    if (!TOKEN.test(name) || values.length === 0) continue;
    const value = values.length === 1 ? (values[0] as string) : values;
    if (name === 'content-type') headers['content-type'] = value;
    headers[`${FORWARDED_HEADER_PREFIX}${name}`] = value;
  }
  return {
    method: 'POST',
    path: q < 0 ? path : path.slice(0, q),
    query: q < 0 ? '' : path.slice(q + 1),
    headers,
    body: Buffer.from(msg.data),
  };
}

/** What one call came to: the function's answer, or the platform's failure. */
export type Outcome = Answer | ThawError;

/** Any failure of a call as a ThawError (INTERNAL for what is not one). */
export function asThawError(err: unknown): ThawError {
  return err instanceof ThawError ? err : new ThawError('INTERNAL', String(err), { cause: err });
}

export const ResultHeader = {
  status: InvokeHeader.status,
  function: 'thaw-function',
  sourceSubject: 'thaw-source-subject',
  error: InvokeHeader.error,
} as const;

/**
 * The message a call's result is published as: the function's answer body (its content type
 * kept), `thaw-status`, `thaw-function`, `thaw-source-subject`; a platform failure has its
 * ErrorCode in `thaw-error` and the error's JSON body.
 */
export function resultOf(fn: string, subject: string, outcome: Outcome): { data: Buffer; headers: MsgHdrs } {
  const h = natsHeaders();
  h.set(ResultHeader.function, fn);
  h.set(ResultHeader.sourceSubject, subject);
  if (outcome instanceof ThawError) {
    h.set(ResultHeader.status, String(outcome.status));
    h.set(ResultHeader.error, outcome.code);
    h.set('content-type', 'application/json');
    return { data: Buffer.from(JSON.stringify(outcome.toBody())), headers: h };
  }
  h.set(ResultHeader.status, String(outcome.status));
  const type = outcome.headers['content-type'];
  if (typeof type === 'string') h.set('content-type', type);
  return { data: outcome.body, headers: h };
}

/**
 * Whether a JetStream message is done with: the function answered (2xx-4xx other than 429: a 4xx
 * is its answer, a retry would give the same), or it should come again (5xx, 429, and platform
 * failures such as WORKER_LOST, NO_WORKER, FUNCTION_TIMEOUT: the call may not have run).
 */
export function settled(outcome: Outcome): boolean {
  const status = outcome.status;
  return status < 500 && status !== 429;
}

/** First and longest wait before a failed JetStream message comes again. */
export const RETRY_FIRST_MS = 1000;
export const RETRY_MAX_MS = 30_000;

/** The wait before delivery `delivery` + 1: doubling from 1 s up to 30 s, a quarter either way at random. */
export function retryDelay(delivery: number, random = Math.random): number {
  const base = Math.min(RETRY_FIRST_MS * 2 ** Math.max(delivery - 1, 0), RETRY_MAX_MS);
  return Math.round(base * (0.75 + random() / 2));
}
