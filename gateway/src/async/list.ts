import { MAX_SCHEDULES } from '@thaw/shared';
import type { Job, Queue } from 'bullmq';
import { callIdOfJob, tickOfJob } from '../schedules/ids.js';
import { type CallData, type CallStatus, type CallView, callView, type StoredAnswer } from './records.js';

/** The most calls GET /v1/calls lists at once. */
export const MAX_LIST = 200;

type State = 'waiting' | 'prioritized' | 'delayed' | 'active' | 'completed' | 'failed';

/** The BullMQ states a call of each status can be in. */
const STATES: Record<CallStatus, State[]> = {
  queued: ['waiting', 'prioritized', 'delayed'],
  running: ['active'],
  retrying: ['waiting', 'prioritized', 'delayed'],
  succeeded: ['completed'],
  dead: ['failed'],
};
const ALL: State[] = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'];

/**
 * A schedule's next tick waits in the delayed set from the tick before it: it is no call yet.
 * A tick that has been tried, or waits for a worker, is one.
 */
function upcomingTick(job: Job<CallData>, state: State): boolean {
  return (
    state === 'delayed' && tickOfJob(job.id) !== undefined && job.attemptsMade === 0 && !job.data.waiting
  );
}

/**
 * A function's calls, newest first (by creation; a tick's by its time): the newest `limit` of
 * each state are read, so the list is exact for the newest `limit` calls of any status.
 */
export async function listCalls(
  queue: Queue,
  fn: string,
  o: { limit: number; status?: CallStatus },
): Promise<CallView[]> {
  const states = o.status ? STATES[o.status] : ALL;
  const seen = new Set<string>();
  const views: CallView[] = [];
  for (const state of states) {
    // The upcoming ticks (one per schedule) are among the delayed jobs read: read that many more.
    const extra = state === 'delayed' ? MAX_SCHEDULES : 0;
    const jobs = (await queue.getJobs([state], 0, o.limit - 1 + extra, false)) as Job<
      CallData,
      StoredAnswer
    >[];
    for (const job of jobs) {
      if (!job?.id || seen.has(job.id) || upcomingTick(job, state)) continue;
      seen.add(job.id);
      const view = callView(job, state, fn, callIdOfJob(job.id));
      if (!o.status || view.status === o.status) views.push(view);
    }
  }
  views.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return views.slice(0, o.limit);
}
