import { type components, unwrap } from '@thaw/client';
import type { Io } from './commands.js';
import { CliError, Exit } from './errors.js';
import { table } from './format.js';
import { call, clientFor } from './gateway.js';
import type { Target } from './target.js';

type Flags = Record<string, string | boolean | string[] | undefined>;

/** One bucket of GET /v1/stats (the generated client's type of it). */
export type StatsRow = components['schemas']['CallStats']['functions'][string][number];

const msText = (ms: number | null) => (ms === null ? '-' : ms < 10 ? ms.toFixed(2) : String(Math.round(ms)));

/**
 * The buckets that saw calls, oldest first, and a total line (quantiles are per bucket: they
 * do not add up, so the total shows the worst p99).
 */
export function statsText(name: string, since: string, points: StatsRow[]): string {
  const busy = points.filter((p) => p.calls > 0);
  if (busy.length === 0) return `no calls of ${name} in the last ${since}\n`;
  const rows = busy.map((p) => [
    p.t.slice(11, 19),
    String(p.calls),
    String(p.errors),
    String(p.cold),
    String(p.ratePerSec),
    msText(p.p50Ms),
    msText(p.p99Ms),
  ]);
  const sum = (k: 'calls' | 'errors' | 'cold') => String(busy.reduce((n, p) => n + p[k], 0));
  const worst = Math.max(...busy.map((p) => p.p99Ms ?? 0));
  rows.push(['total', sum('calls'), sum('errors'), sum('cold'), '', '', msText(worst)]);
  return table([['TIME (UTC)', 'CALLS', 'ERRORS', 'COLD', 'RATE/S', 'P50 MS', 'P99 MS'], ...rows]);
}

/** `thaw stats NAME [--since 5m]`: a function's calls per 10 s, summed over every gateway. */
export async function stats(t: Target, io: Io, args: string[], f: Flags): Promise<number> {
  const name = args[0];
  if (!name) throw new CliError('usage: thaw stats NAME [--since 5m]', Exit.usage);
  const since = typeof f.since === 'string' ? f.since : '5m';
  const answer = await call(t, async () =>
    unwrap(await clientFor(t).GET('/v1/stats', { params: { query: { since, function: name } } })),
  );
  const points = answer.functions[name] ?? [];
  if (io.asJson) {
    io.out(`${JSON.stringify({ ...answer, functions: { [name]: points } })}\n`);
    return Exit.ok;
  }
  io.out(statsText(name, since, points));
  return Exit.ok;
}
