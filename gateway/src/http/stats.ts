import type { FastifyInstance } from 'fastify';
import type { CallStats } from '../stats/call-stats.js';

export interface StatsRouteDeps {
  stats: CallStats;
}

/** GET /v1/stats: the functions' call figures over the last minutes. Seam: issue #16 fills it in. */
export async function statsRoutes(_app: FastifyInstance, _d: StatsRouteDeps): Promise<void> {}
