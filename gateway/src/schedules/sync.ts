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
  /** The function as the caller's list has it: possibly older than the stored one. */
  fn: FunctionRecord;
  /** Job options of a tick of `fn` (tries, backoff, retention). */
  jobOpts: JobsOptions;
  /** Redis key of the claim to create scheduler `id`. */
  claimKey: (id: string) => string;
  /** Redis key of the newest version of the function a sync has acted on. */
  revKey: string;
  /** The function as stored now (read fresh), or undefined once deleted. */
  current: () => Promise<FunctionRecord | undefined>;
  log: Logger;
}

/**
 * How long the newest version acted on is remembered: far longer than any list a sync can be
 * following, and refreshed by every sync while the function lives.
 */
export const SCHEDULE_REV_TTL_MS = 24 * 3600_000;

/**
 * Records (createdAt, revision) as the newest acted on, unless a later revision of the same
 * function is: 1 if `fn` may be acted on, 0 if a sync has already acted on a later revision.
 * Revisions are compared only within one createdAt: createdAt is the wall clock of whichever
 * gateway handled the create, so a function deleted and created again through a gateway whose
 * clock is behind would look older than the one it replaces. Another createdAt overwrites; an
 * old copy of a deleted function is then stopped by the fresh read before any act.
 */
const NEWEST_REV = `
local c = redis.call('HGET', KEYS[1], 'createdAt')
local r = tonumber(redis.call('HGET', KEYS[1], 'revision') or '0')
if c == ARGV[1] and r > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'createdAt', ARGV[1], 'revision', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`;

function sameVersion(a: FunctionRecord | undefined, b: FunctionRecord): boolean {
  return a !== undefined && a.createdAt === b.createdAt && a.revision === b.revision;
}

/**
 * Brings a function queue's job schedulers in step with its schedules: the new ones are created
 * (by the one gateway that claims each), those no longer listed removed. A scheduler that is
 * already there is never upserted again: an upsert moves its next tick to the next one after
 * now, and landing just after a due tick, before a worker takes it, would skip that tick.
 *
 * Gateways sync from lists read at different times, so a sync may carry an older version of the
 * function than another has already applied: it would put the old schedules back. A sync acts
 * only on the newest version seen (NEWEST_REV), and on the version still stored when it is about
 * to remove or create (a read just before, and one after a create). A race left between that read
 * and the act is undone by the next sync: removing a scheduler drops its claim, so re-creating it
 * is not blocked.
 */
export async function syncSchedulers(o: SchedulerSyncOptions): Promise<void> {
  const { queue, fn } = o;
  const client = await queue.client;
  const newest = await client.runCommand('eval', [
    NEWEST_REV,
    1,
    o.revKey,
    fn.createdAt,
    fn.revision,
    SCHEDULE_REV_TTL_MS,
  ]);
  if (Number(newest) !== 1) return;
  const ids = scheduleIds(fn.name, fn.schedules, fn.asyncAttempts);
  const existing = (await queue.getJobSchedulers()).map((s) => s.key);
  const { add, remove } = planSchedulers(ids, existing);
  if (add.length + remove.length === 0) return;
  // The list this sync follows may be older than an edit or a delete another gateway has
  // already applied: acting on it would undo theirs.
  if (!sameVersion(await o.current(), fn)) return;
  for (const id of remove) {
    await queue.removeJobScheduler(id);
    await client.runCommand('del', [o.claimKey(id)]);
    o.log.info({ fn: fn.name, schedule: id }, 'schedule removed');
  }
  for (const id of add) {
    const s = fn.schedules[ids.indexOf(id)];
    if (!s) continue;
    const claimed = await client.runCommand('set', [o.claimKey(id), '1', 'PX', SCHEDULER_CLAIM_MS, 'NX']);
    if (claimed !== 'OK') continue;
    if (!sameVersion(await o.current(), fn)) {
      await client.runCommand('del', [o.claimKey(id)]);
      return;
    }
    await queue.upsertJobScheduler(
      id,
      { pattern: normalCron(s.cron), tz: s.timezone ?? 'UTC' },
      { name: 'call', data: tickData(fn.name, s, id), opts: o.jobOpts },
    );
    // The function may have been deleted (or edited) between the read above and the upsert,
    // and its gateway found nothing to remove yet: a deleted function is never listed again, so
    // no later sync would undo this scheduler.
    if (!sameVersion(await o.current(), fn)) {
      await queue.removeJobScheduler(id);
      await client.runCommand('del', [o.claimKey(id)]);
      return;
    }
    o.log.info({ fn: fn.name, schedule: id, cron: s.cron }, 'schedule created');
  }
}

/**
 * Removes every scheduler of a queue (its function was deleted), and forgets the newest version
 * acted on: the function created again starts afresh.
 */
export async function removeSchedulers(
  queue: Queue,
  claimKey: (id: string) => string,
  revKey: string,
): Promise<void> {
  const client = await queue.client;
  for (const s of await queue.getJobSchedulers()) {
    await queue.removeJobScheduler(s.key);
    // A function created again at once with the same schedule must not wait out the old claim.
    await client.runCommand('del', [claimKey(s.key)]);
  }
  await client.runCommand('del', [revKey]);
}
