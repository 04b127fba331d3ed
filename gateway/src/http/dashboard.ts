import type { FastifyInstance } from 'fastify';

/** The web dashboard's static files under /ui. Seam: issue #16 fills it in. */
export async function dashboardRoutes(_app: FastifyInstance): Promise<void> {}
