import cronParser from 'cron-parser';
import { z } from 'zod';

/** Schedules one function may carry. */
export const MAX_SCHEDULES = 10;
/** Characters in a schedule's body: each tick's call keeps a copy (docs/schedules.md). */
export const MAX_SCHEDULE_BODY = 4096;

/** Whether `tz` is an IANA time zone this Node knows. */
function knownZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * A cron schedule: the function is called at each tick, once across all gateways, as an async
 * call (kept, retried like one, listed by GET /v1/calls). Five fields (minute precision) or six
 * (the first is seconds), read by cron-parser as BullMQ reads them.
 */
export const Schedule = z
  .strictObject({
    cron: z.string().min(1).max(128),
    /** IANA time zone the cron fields are read in; UTC by default. */
    timezone: z.string().max(64).refine(knownZone, 'not a known IANA time zone').optional(),
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('POST'),
    /** The path the function sees, with an optional query ("/tick?full=1"). */
    path: z
      .string()
      .max(1024)
      .regex(/^\/[^\s#]*$/, 'must start with "/" and hold no spaces or "#"')
      .default('/'),
    /** The request body of each tick (text), kept with every tick's call. */
    body: z.string().max(MAX_SCHEDULE_BODY).default(''),
  })
  .superRefine((s, ctx) => {
    const fields = s.cron.trim().split(/\s+/).length;
    if (fields !== 5 && fields !== 6) {
      ctx.addIssue({
        code: 'custom',
        path: ['cron'],
        message: `"${s.cron}" has ${fields} fields: a cron expression has 5 (minute hour day month weekday) or 6 (seconds first)`,
      });
      return;
    }
    try {
      cronParser.parseExpression(s.cron, s.timezone ? { tz: s.timezone } : {});
    } catch (err) {
      ctx.addIssue({
        code: 'custom',
        path: ['cron'],
        message: `"${s.cron}" is not a cron expression: ${(err as Error).message}`,
      });
    }
  });
export type Schedule = z.infer<typeof Schedule>;
