import { ErrorCatalogue, type FunctionRecord, ThawError } from '@thaw/shared';
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import type { Answer, Invoke } from '../calls/types.js';
import { tickOfJob } from '../schedules/ids.js';
import type { CallData, StoredAnswer } from './records.js';

/** The part of a function's answer kept with a call (bodies beyond this are cut). */
export const MAX_STORED_BODY = 1024 * 1024;
/** Shortest and longest wait between tries that found no worker (see outageWait). */
export const OUTAGE_MIN_WAIT_MS = 500;
export const OUTAGE_MAX_WAIT_MS = 5000;

/**
 * The wait before the next try of a call whose tries have found no worker for `elapsedMs`: as
 * long as the outage has lasted so far (so the waits double), from 0.5 s up to 5 s, so a call
 * runs at most about 5 s after a worker is back. A quarter either way at random, so the calls
 * queued during an outage do not all come back in the same instant.
 */
export function outageWait(elapsedMs: number, random = Math.random): number {
  const base = Math.min(Math.max(elapsedMs, OUTAGE_MIN_WAIT_MS), OUTAGE_MAX_WAIT_MS);
  return Math.round(base * (0.75 + random() / 2));
}

function stored(a: Answer): StoredAnswer {
  return {
    status: a.status,
    headers: a.headers,
    body: a.body.subarray(0, MAX_STORED_BODY).toString('base64'),
    truncated: a.body.length > MAX_STORED_BODY,
  };
}

/** A platform failure as the answer a client would have seen. */
function asAnswer(err: ThawError): Answer {
  return {
    status: err.status,
    headers: { 'content-type': 'application/json', 'x-thaw-error': err.code },
    body: Buffer.from(JSON.stringify(err.toBody())),
  };
}

export interface TryOptions {
  /** The function as stored now. */
  current: (name: string) => Promise<FunctionRecord | undefined>;
  invoke: Invoke;
  /** How long tries may find no worker without using up attempts. */
  outageBudgetMs: number;
}

/**
 * One try of an async call. 5xx and 429 answers fail the try (BullMQ retries it with backoff);
 * a try that found no worker (NO_WORKER: nothing ran) puts the call back in the delayed set
 * without using an attempt, until the outage has lasted `outageBudgetMs`.
 */
export async function tryCall(
  o: TryOptions,
  job: Job<CallData, StoredAnswer>,
  token?: string,
): Promise<StoredAnswer> {
  const fn = await o.current(job.data.fn);
  if (!fn) throw new UnrecoverableError(`function "${job.data.fn}" was deleted`);
  const e = job.data.envelope;
  // A tick's job data is its schedule's template: the tick's own time is in its job id.
  const tick = tickOfJob(job.id);
  const headers = tick ? { ...e.headers, 'x-thaw-scheduled-at': new Date(tick.at).toISOString() } : e.headers;
  let answer: Answer;
  try {
    answer = await o.invoke(fn, { ...e, headers, body: Buffer.from(e.body, 'base64') });
  } catch (err) {
    if (!(err instanceof ThawError)) throw err;
    answer = asAnswer(err);
  }
  const kept = stored(answer);
  const code = answer.headers['x-thaw-error'];
  const { waiting: _, outageSince, ...data } = job.data;
  if (code === 'NO_WORKER' && token) {
    const now = Date.now();
    const since = outageSince ?? now;
    if (now - since < o.outageBudgetMs) {
      // Nothing ran: this try is no attempt. The call waits in BullMQ's delayed set, so
      // any gateway may take it on when it is due, this one dead or not.
      const waiting = `no worker since ${new Date(since).toISOString()} (try answered 503 NO_WORKER); waiting for one, no attempt used`;
      await job.updateData({ ...data, last: kept, outageSince: since, waiting });
      await job.moveToDelayed(now + outageWait(now - since), token);
      throw new DelayedError();
    }
  }
  if (answer.status >= 500 || answer.status === 429) {
    await job.updateData({ ...data, last: kept, ...(code === 'NO_WORKER' ? { outageSince } : {}) });
    const past = code === 'NO_WORKER' && outageSince !== undefined ? ', past the outage budget' : '';
    throw new Error(
      `try ${job.attemptsMade + 1} answered ${answer.status}${typeof code === 'string' && code in ErrorCatalogue ? ` ${code}` : ''}${past}`,
    );
  }
  if (job.data.waiting || outageSince !== undefined) await job.updateData(data);
  return kept;
}
