/**
 * A call in the Caller's hands (caller.ts): what it keeps per call, its settings and options, and
 * the errors and subjects it derives.
 */
import { type HeaderBlock, ThawError, type WireHeadersIn } from '@thaw/shared';
import type { NatsConnection } from 'nats';
import type { ClusterView, Liveness } from '../cluster/view.js';
import type { Link } from './link.js';
import type { LinkSettings } from './links.js';

/** No worker subscribes to the subject: the function is held nowhere. */
export class NoRespondersError extends Error {
  override readonly name = 'NoRespondersError';
}

/** A worker's answer, from NATS or a direct link. */
export interface CallReply {
  headers?: WireHeadersIn;
  data: Uint8Array;
}

/** How calls left this gateway, for the metrics. */
export interface CallSends {
  direct: number;
  nats: number;
}

export interface Pending {
  resolve: (reply: CallReply) => void;
  reject: (err: Error) => void;
  subject: string;
  body: Uint8Array;
  headers: HeaderBlock;
  reply: string;
  /** The function, for a direct link to a worker holding it. */
  fn: string | undefined;
  /** The direct link the call went on, until answered or sent over NATS instead. */
  via: Link | undefined;
  /** The direct link the call was written on, kept until it settles (its in-flight count). */
  link: Link | undefined;
  /** The link whose worker took the call, when one did: a new process there lost it. */
  takenOn: Link | undefined;
  /** Taken on a link that closed: its answer is asked for again on NATS until it comes. */
  orphaned: boolean;
  attempts: number;
  worker?: string;
  acceptedAt: number;
  /** When the last send went out (Date.now()): not taken by ackTimeoutMs after it, it is sent again. */
  sentAt: number;
  /** Date.now() past which the call fails with FUNCTION_TIMEOUT. */
  deadlineAt: number;
  timeoutMs: number;
}

export interface CallerSettings {
  /** A call no worker has taken by then is sent again (it cannot have run anywhere). */
  ackTimeoutMs: number;
  /** Sends of one call before it fails with NO_WORKER. */
  maxAttempts: number;
  /**
   * How often calls are checked: taken ones against their worker's heartbeats, the others
   * against ackTimeoutMs, all against their deadline. One sweep rather than timers per call:
   * two timers set and cleared per call cost more than the sweep on the hot path, and a late
   * sweep (this process stalled) resends nothing whose acceptance may be waiting unread.
   */
  checkEveryMs: number;
}

export const CALLER_DEFAULTS: CallerSettings = { ackTimeoutMs: 1000, maxAttempts: 3, checkEveryMs: 250 };

export interface CallerOptions {
  nc: NatsConnection;
  /** Whether the worker that took a call still sends heartbeats (ClusterView). */
  liveness: Liveness;
  settings?: Partial<CallerSettings>;
  /**
   * subjects(prefix).replay. Without it, each call's is derived from its subject
   * (`<prefix>.invoke.<fn>` → `<prefix>.invoke-replay`).
   */
  replaySubject?: string;
  /**
   * The workers' heartbeats, for direct links to them (wire/direct.ts): a call's first send goes
   * straight to a worker that holds its function when one serves a link. Absent: NATS only.
   */
  direct?: Pick<ClusterView, 'holdersOf' | 'liveBeat'>;
  /** The links' timings and bounds (links.ts LINK_DEFAULTS); tests shorten them. */
  linkSettings?: Partial<LinkSettings>;
}

/** Inboxes per replay request: well under NATS's max_payload (~40 bytes each). */
export const REPLAY_BATCH = 10_000;

export function workerRestarted(worker: string): ThawError {
  return new ThawError(
    'WORKER_LOST',
    `worker ${worker} restarted while it served the call; it may have run in part`,
  );
}

export function replayFor(subject: string): string {
  const at = subject.lastIndexOf('.invoke.');
  return `${at < 0 ? 'thaw' : subject.slice(0, at)}.invoke-replay`;
}
