/**
 * NATS subjects and queue groups. Every subject is under one prefix so that several thaw
 * installations (or test runs) can share a NATS server without seeing each other.
 */
export const WORKER_QUEUE = 'thaw-workers';

export function subjects(prefix = 'thaw') {
  return {
    invoke: (fn: string) => `${prefix}.invoke.${fn}`,
    place: `${prefix}.place`,
    /** Placement addressed to one worker, chosen by the gateway from heartbeats. */
    placeOn: (workerId: string) => `${prefix}.place.${workerId}`,
    /** Every worker's periodic state: capacity, draining, instances per function. */
    heartbeat: `${prefix}.workers.heartbeat`,
    /** Request to every worker: a function's recent log lines. */
    logs: (fn: string) => `${prefix}.logs.${fn}`,
    /** New log lines of a function, as workers read them (for followers). */
    logsLive: (fn: string) => `${prefix}.logs-live.${fn}`,
    importImage: `${prefix}.images.import`,
    functionRemoved: `${prefix}.functions.removed`,
    functionChanged: `${prefix}.functions.changed`,
    functionUpdated: `${prefix}.functions.updated`,
    /** Every worker removes the function's idle instances above its minimum ({ name }). */
    functionScaleToZero: `${prefix}.functions.scale-to-zero`,
    /**
     * To every worker (no queue group), from a gateway that reconnected to NATS: the reply
     * subjects (inboxes) of its calls still unanswered, one per line. A worker re-publishes the
     * answers it still holds for them (it never runs a call again).
     */
    replay: `${prefix}.invoke-replay`,
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
  /**
   * Set on the worker's first, empty message to the reply subject: it has taken the call (its
   * id is the value). Before it, the call may go to another worker; after it, the call's fate
   * is tied to that worker's heartbeats.
   */
  accepted: 'thaw-accepted',
  /**
   * Set on a reply when the function's pool on that worker is at its maximum with requests
   * waiting: the gateway places the function on another worker with room as well.
   */
  saturated: 'thaw-saturated',
  /**
   * Per-phase timing of one call (THAW_TIMINGS on the gateway): on a request, "1" asks the
   * worker for its marks; on the reply, the worker's marks (wire/timing.ts).
   */
  timing: 'thaw-timing',
  /**
   * "1" on a request from the Lambda Invoke API: the body is the event itself, not an HTTP
   * request's body. A `lambda` function gets it unchanged; an `http` function gets it as a POST
   * to "/".
   */
  lambdaEvent: 'thaw-lambda-event',
  /**
   * "1" on a reply when the call waited for an instance started for it (a cold start); absent
   * otherwise, so warm replies carry nothing more.
   */
  cold: 'thaw-cold',
} as const;

/** The name of the JetStream object store holding uploaded image archives. */
export const IMAGE_BUCKET = 'thaw-images';
