/**
 * NATS subjects and queue groups. Every subject is under one prefix so that several thaw
 * installations (or test runs) can share a NATS server without seeing each other.
 */
export const WORKER_QUEUE = 'thaw-workers';

export function subjects(prefix = 'thaw') {
  return {
    invoke: (fn: string) => `${prefix}.invoke.${fn}`,
    place: `${prefix}.place`,
    importImage: `${prefix}.images.import`,
    functionRemoved: `${prefix}.functions.removed`,
    functionChanged: `${prefix}.functions.changed`,
  } as const;
}
export type Subjects = ReturnType<typeof subjects>;

/** NATS header names of an invocation envelope (request and reply). */
export const InvokeHeader = {
  method: 'thaw-method',
  /** Path after /fn/<name>, always starting with "/". */
  path: 'thaw-path',
  /** Raw query string without "?", may be empty. */
  query: 'thaw-query',
  /** JSON object of the HTTP headers (lower-case names, string or string[] values). */
  headers: 'thaw-headers',
  status: 'thaw-status',
  /** Set on a reply when the worker failed the call: an ErrorCode; the payload is the message. */
  error: 'thaw-error',
} as const;

/** The name of the JetStream object store holding uploaded image archives. */
export const IMAGE_BUCKET = 'thaw-images';
