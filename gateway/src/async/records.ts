import type { HeaderMap } from '@thaw/shared';
import type { Job, JobState } from 'bullmq';
import { tickOfJob } from '../schedules/ids.js';

/** What became of a call's callback, kept with the call. */
export interface CallbackRecord {
  status: 'sent' | 'refused' | 'failed';
  /** Why it was refused, or why the last try failed. */
  reason?: string;
  /** The receiver's HTTP status, when it answered. */
  responseStatus?: number;
  /** Tries made (a refused callback makes none). */
  tries: number;
  at: string;
}

/** What is kept in Redis with a call (BullMQ job data). */
export interface CallData {
  fn: string;
  /** The call; `lambdaEvent` is kept so a Lambda API Event call reaches the function as an event. */
  envelope: {
    method: string;
    path: string;
    query: string;
    headers: HeaderMap;
    body: string;
    lambdaEvent?: true;
  };
  callbackUrl?: string;
  last?: StoredAnswer;
  /** When tries began to find no worker (cleared once one reaches a worker). */
  outageSince?: number;
  /** Set while the call waits for a worker, an attempt not used: why. */
  waiting?: string;
  callback?: CallbackRecord;
}

/** A function's answer as kept with a call. */
export interface StoredAnswer {
  status: number;
  headers: HeaderMap;
  /** base64 */
  body: string;
  truncated: boolean;
}

export type CallStatus = 'queued' | 'running' | 'retrying' | 'succeeded' | 'dead';
export const CALL_STATUSES: readonly CallStatus[] = ['queued', 'running', 'retrying', 'succeeded', 'dead'];

/** GET /v1/calls/:id. */
export interface CallView {
  callId: string;
  function: string;
  /** An async call (POST /async/..., Lambda Event) or a schedule's tick. */
  source: 'async' | 'schedule';
  /** The schedule whose tick this is. */
  schedule?: string;
  /** When the tick was due. */
  scheduledAt?: string;
  status: CallStatus;
  attempts: number;
  maxAttempts: number;
  createdAt: string;
  /** When the latest try started. */
  startedAt?: string;
  finishedAt?: string;
  /** The function's answer (succeeded), or its last failed answer. */
  response?: StoredAnswer & { bodyEncoding: 'base64' };
  error?: string;
  /** What became of the callback, when the call has a callback URL. */
  callback?: CallbackRecord | { status: 'pending' };
}

/** What of a call's job the API shows. */
export type CallJob = Pick<
  Job<CallData, StoredAnswer>,
  | 'id'
  | 'data'
  | 'returnvalue'
  | 'attemptsMade'
  | 'opts'
  | 'timestamp'
  | 'processedOn'
  | 'finishedOn'
  | 'failedReason'
>;

/** A call as the API shows it, from its job and the job's state. */
export function callView(job: CallJob, state: JobState | 'unknown', fn: string, callId: string): CallView {
  const status: CallStatus =
    state === 'completed'
      ? 'succeeded'
      : state === 'failed'
        ? 'dead'
        : state === 'active'
          ? 'running'
          : job.attemptsMade > 0 || job.data.waiting
            ? 'retrying'
            : 'queued';
  const answer = status === 'succeeded' ? job.returnvalue : job.data.last;
  // BullMQ makes a tick's job at the tick before it: the call begins when it is due.
  const tick = tickOfJob(job.id);
  return {
    callId,
    function: fn,
    source: tick ? 'schedule' : 'async',
    ...(tick ? { schedule: tick.scheduleId, scheduledAt: new Date(tick.at).toISOString() } : {}),
    status,
    attempts: job.attemptsMade,
    maxAttempts: job.opts.attempts ?? 1,
    createdAt: new Date(tick ? tick.at : job.timestamp).toISOString(),
    ...(job.processedOn ? { startedAt: new Date(job.processedOn).toISOString() } : {}),
    ...(job.finishedOn ? { finishedAt: new Date(job.finishedOn).toISOString() } : {}),
    ...(answer ? { response: { ...answer, bodyEncoding: 'base64' as const } } : {}),
    ...(status === 'dead' || status === 'retrying'
      ? { error: (status === 'retrying' && job.data.waiting) || job.failedReason }
      : {}),
    ...(job.data.callbackUrl ? { callback: job.data.callback ?? { status: 'pending' as const } } : {}),
  };
}
