import type { FunctionRecord, Logger, Schedule } from '@thaw/shared';
import type { JobsOptions, Queue } from 'bullmq';
import type { CallData } from '../async/records.js';
import { normalCron, scheduleIds } from './ids.js';

/**
 * How long a gateway's claim to create a scheduler lasts: the others leave it alone meanwhile,
 * and take over at a later sync if the claimant died before creating it.
 */
export const SCHEDULER_CLAIM_MS = 10_000;

/** Which schedulers to create and which to remove, from those wanted and those in the queue. */
export function planSchedulers(
  wanted: readonly string[],
  existing: readonly string[],
): { add: string[]; remove: string[] } {
  const have = new Set(existing);
  const want = new Set(wanted);
  return { add: wanted.filter((id) => !have.has(id)), remove: existing.filter((id) => !want.has(id)) };
}

/** What each tick of a schedule sends; the tick's time is added when it runs (run.ts). */
export function tickData(fn: string, s: Schedule, id: string): CallData {
  const q = s.path.indexOf('?');
  return {
    fn,
    envelope: {
      method: s.method,
      path: q < 0 ? s.path : s.path.slice(0, q),
      query: q < 0 ? '' : s.path.slice(q + 1),
      headers: { 'x-thaw-schedule': id },
      body: Buffer.from(s.body, 'utf8').toString('base64'),
    },
  };
}

export interface SchedulerSyncOptions {
  queue: Queue;
  fn: FunctionRecord;
  /** Job options of an async call of `fn` (tries, backoff, retention). */
  jobOpts: JobsOptions;
  /** Redis key of the claim to create scheduler `id`. */
  claimKey: (id: string) => string;
  /** Whether the function is still there, read fresh. */
  stillThere: () => Promise<boolean>;
  log: Logger;
}

/**
 * Brings a function queue's job schedulers in step with its schedules: the new ones are created
 * (by the one gateway that claims each), those no longer listed removed. A scheduler that is
 * already there is never upserted again: an upsert moves its next tick to the next one after
 * now, and landing just after a due tick, before a worker takes it, would skip that tick.
 */
export async function syncSchedulers(o: SchedulerSyncOptions): Promise<void> {
  const { queue, fn } = o;
  const ids = scheduleIds(fn.name, fn.schedules, fn.asyncAttempts);
  const existing = (await queue.getJobSchedulers()).map((s) => s.key);
  const { add, remove } = planSchedulers(ids, existing);
  for (const id of remove) {
    await queue.removeJobScheduler(id);
    o.log.info({ fn: fn.name, schedule: id }, 'schedule removed');
  }
  const client = await queue.client;
  for (const id of add) {
    const s = fn.schedules[ids.indexOf(id)];
    if (!s) continue;
    const claimed = await client.runCommand('set', [o.claimKey(id), '1', 'PX', SCHEDULER_CLAIM_MS, 'NX']);
    if (claimed !== 'OK') continue;
    // The list this sync follows may be older than a delete whose gateway has just removed the
    // function's schedulers: one made now would outlive the function.
    if (!(await o.stillThere())) return;
    await queue.upsertJobScheduler(
      id,
      { pattern: normalCron(s.cron), tz: s.timezone ?? 'UTC' },
      { name: 'call', data: tickData(fn.name, s, id), opts: o.jobOpts },
    );
    o.log.info({ fn: fn.name, schedule: id, cron: s.cron }, 'schedule created');
  }
}

/** Removes every scheduler of a queue (its function was deleted). */
export async function removeSchedulers(queue: Queue): Promise<void> {
  for (const s of await queue.getJobSchedulers()) await queue.removeJobScheduler(s.key);
}
