import { ThawError } from '@thaw/shared';
import type { FastifyInstance } from 'fastify';
import type { CallStats } from '../stats/call-stats.js';
import { MAX_FUNCTIONS, RETENTION_MS } from '../stats/call-stats.js';
import { parseSince } from './logs.js';

export interface StatsRouteDeps {
  stats: CallStats;
}

const DEFAULT_SINCE = '15m';

/**
 * `since` once; `function` as a comma list, repeated or not: fastify's validator makes a lone
 * value an array of one (coerceTypes 'array'), and refuses a repeated `since` (VALIDATION_FAILED).
 */
const QUERY = {
  type: 'object',
  properties: {
    since: { type: 'string' },
    function: { type: 'array', items: { type: 'string' } },
  },
} as const;

/** `since` (as the logs route reads it), no further back than the figures are kept. */
export function statsSince(since: string | undefined, now: number): number {
  const t = parseSince(since ?? DEFAULT_SINCE, now);
  if (t < now - RETENTION_MS) {
    throw new ThawError('VALIDATION_FAILED', `since: at most ${RETENTION_MS / 60_000} minutes (1h) back`);
  }
  if (t > now) throw new ThawError('VALIDATION_FAILED', 'since: must not be in the future');
  return t;
}

/**
 * The names of `function` (comma lists, repeated or not), each once; undefined for none. At
 * most MAX_FUNCTIONS: each costs a Redis read per bucket.
 */
export function statsNames(values: string[] | undefined): string[] | undefined {
  const names = new Set<string>();
  for (const v of values ?? []) {
    for (const n of v.split(',')) if (n.trim() !== '') names.add(n.trim());
  }
  if (names.size > MAX_FUNCTIONS) {
    throw new ThawError(
      'VALIDATION_FAILED',
      `function: at most ${MAX_FUNCTIONS} names per request (${names.size} given): ask for fewer functions at a time`,
    );
  }
  return names.size > 0 ? [...names] : undefined;
}

/**
 * `GET /v1/stats?since=15m&function=a,b`: per function, per 10-second bucket, calls, errors,
 * cold starts, rate and p50/p99 latency, summed over every gateway (admin token). Without
 * `function`, the MAX_FUNCTIONS functions called last.
 */
export async function statsRoutes(app: FastifyInstance, d: StatsRouteDeps): Promise<void> {
  app.get<{ Querystring: { since?: string; function?: string[] } }>(
    '/v1/stats',
    { schema: { querystring: QUERY } },
    async (req) => {
      const since = statsSince(req.query.since, Date.now());
      return d.stats.query(since, statsNames(req.query.function));
    },
  );
}
