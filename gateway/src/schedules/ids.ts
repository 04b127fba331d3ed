import { createHash } from 'node:crypto';
import type { Schedule } from '@thaw/shared';

/**
 * Ids of schedules and of their ticks.
 *
 * A schedule's id is `<function>.s-<hash>`: the hash covers all that shapes a tick (the cron,
 * the time zone, the request, the attempts), so an edited schedule gets a new id and its
 * scheduler replaces the old one, while an unchanged one keeps its scheduler untouched (an
 * upsert of a live scheduler can move its next tick: see docs/schedules.md). Two identical
 * schedules on one function get `-2`, `-3`... after the hash.
 *
 * BullMQ names a scheduler's jobs `repeat:<schedulerId>:<tick millis>`; the API shows a tick as
 * `<schedulerId>.<tick millis>`, which starts with the function's name like an async call id
 * (`<function>.<uuid>`), so GET /v1/calls/:id finds its queue the same way.
 */
const HASH_CHARS = 10;

/** The cron expression with its fields one space apart: spacing is no edit. */
export function normalCron(cron: string): string {
  return cron.trim().split(/\s+/).join(' ');
}

export function scheduleHash(s: Schedule, attempts: number): string {
  const shape = JSON.stringify([normalCron(s.cron), s.timezone ?? 'UTC', s.method, s.path, s.body, attempts]);
  return createHash('sha256').update(shape).digest('hex').slice(0, HASH_CHARS);
}

/** The ids of a function's schedules, in their order. */
export function scheduleIds(fn: string, schedules: readonly Schedule[], attempts: number): string[] {
  const seen = new Map<string, number>();
  return schedules.map((s) => {
    const base = `${fn}.s-${scheduleHash(s, attempts)}`;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return n === 1 ? base : `${base}-${n}`;
  });
}

const TICK_CALL = /^([a-z][a-z0-9-]{0,47}\.s-[0-9a-f]{10}(?:-\d+)?)\.(\d{1,15})$/;
const TICK_JOB = /^repeat:([a-z][a-z0-9-]{0,47}\.s-[0-9a-f]{10}(?:-\d+)?):(\d{1,15})$/;

export interface Tick {
  scheduleId: string;
  /** When the tick was due (ms since the epoch). */
  at: number;
}

/** The tick a BullMQ job id names, if it is one of a schedule's. */
export function tickOfJob(jobId: string | undefined): Tick | undefined {
  const m = TICK_JOB.exec(jobId ?? '');
  return m?.[1] && m[2] ? { scheduleId: m[1], at: Number(m[2]) } : undefined;
}

/** The tick an API call id names, if it is one of a schedule's. */
export function tickOfCall(callId: string): Tick | undefined {
  const m = TICK_CALL.exec(callId);
  return m?.[1] && m[2] ? { scheduleId: m[1], at: Number(m[2]) } : undefined;
}

/** The id the API shows for a call, from its BullMQ job id. */
export function callIdOfJob(jobId: string): string {
  const t = tickOfJob(jobId);
  return t ? `${t.scheduleId}.${t.at}` : jobId;
}

/** The BullMQ job id of an API call id. */
export function jobIdOfCall(callId: string): string {
  const t = tickOfCall(callId);
  return t ? `repeat:${t.scheduleId}:${t.at}` : callId;
}
