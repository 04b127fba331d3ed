import { unwrap } from '@thaw/client';
import * as cmd from './commands.js';
import { CliError, Exit } from './errors.js';
import { table } from './format.js';
import { call, clientFor } from './gateway.js';
import type { Target } from './target.js';

type Flags = Record<string, string | boolean | string[] | undefined>;
const STATUSES = ['queued', 'running', 'retrying', 'succeeded', 'dead'] as const;
type Status = (typeof STATUSES)[number];

/** A function name has no dot; every call id has one (`<function>.<...>`). */
const isFunctionName = (s: string) => /^[a-z][a-z0-9-]*$/.test(s);
const when = (iso: string | undefined) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

/**
 * `thaw calls NAME [--status S] [--limit N]`: a function's calls, async and its schedules'
 * ticks, newest first. `thaw calls CALL_ID [--wait]` shows one call (commands.ts).
 */
export async function calls(t: Target, io: cmd.Io, args: string[], f: Flags): Promise<number> {
  const target = args[0];
  if (!target || !isFunctionName(target)) return cmd.calls(t, io, args, f);
  const limit = f.limit === undefined ? 50 : Number(f.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) {
    throw new CliError('--limit: a whole number from 1 to 200', Exit.usage);
  }
  const status = f.status as string | undefined;
  if (status !== undefined && !STATUSES.includes(status as Status)) {
    throw new CliError(`--status: one of ${STATUSES.join(', ')}`, Exit.usage);
  }
  const api = clientFor(t);
  const query = { function: target, limit, ...(status ? { status: status as Status } : {}) };
  const { calls: list } = await call(t, async () =>
    unwrap(await api.GET('/v1/calls', { params: { query } })),
  );
  if (io.asJson) {
    io.out(`${JSON.stringify(list)}\n`);
    return Exit.ok;
  }
  if (list.length === 0) {
    io.out(`no calls of ${target}${status ? ` ${status}` : ''}\n`);
    return Exit.ok;
  }
  const rows = list.map((c) => [
    c.callId,
    c.source,
    c.status,
    `${c.attempts}/${c.maxAttempts}`,
    when(c.createdAt),
    when(c.finishedAt),
  ]);
  io.out(table([['CALL', 'SOURCE', 'STATUS', 'TRIES', 'CREATED', 'FINISHED'], ...rows]));
  return Exit.ok;
}
