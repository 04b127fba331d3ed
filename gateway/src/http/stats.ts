import { ThawError } from '@thaw/shared';
import type { FastifyInstance } from 'fastify';
import type { CallStats } from '../stats/call-stats.js';
import { RETENTION_MS } from '../stats/call-stats.js';
import { parseSince } from './logs.js';

export interface StatsRouteDeps {
  stats: CallStats;
}

const DEFAULT_SINCE = '15m';

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
 * `GET /v1/stats?since=15m&function=a,b`: per function, per 10-second bucket, calls, errors,
 * cold starts, rate and p50/p99 latency, summed over every gateway (admin token).
 */
export async function statsRoutes(app: FastifyInstance, d: StatsRouteDeps): Promise<void> {
  app.get<{ Querystring: Record<string, string | undefined> }>('/v1/stats', async (req) => {
    const since = statsSince(req.query.since, Date.now());
    const names = (req.query.function ?? '')
      .split(',')
      .map((n) => n.trim())
      .filter((n) => n !== '');
    return d.stats.query(since, names.length > 0 ? names : undefined);
  });
}
