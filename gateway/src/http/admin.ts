import { ThawError } from '@thaw/shared';
import type { FastifyInstance } from 'fastify';
import type { ClusterView } from '../cluster/view.js';
import type { GatewayMetrics } from '../metrics.js';
import { bearer, tokenMatches } from './auth.js';
import { openApiDocument } from './openapi.js';

export interface AdminDeps {
  adminHash: string;
  view: ClusterView;
  metrics: GatewayMetrics;
}

/**
 * The admin token guard on every /v1/ route (invoking is decided per function, in
 * invocation.ts), and the small read-only routes: /v1/workers, /openapi.json, /metrics.
 */
export function adminRoutes(app: FastifyInstance, d: AdminDeps): void {
  // Callback-style: every request passes here, invocations too, and an async hook costs a
  // promise per request on the hot path.
  app.addHook('onRequest', (req, _reply, done) => {
    // The route that matched, not the raw URL: the router decodes "/%761/..." to "/v1/...".
    if (!(req.routeOptions.url ?? '').startsWith('/v1/') || tokenMatches(bearer(req), d.adminHash)) {
      return done();
    }
    done(
      new ThawError(
        'UNAUTHORIZED',
        bearer(req)
          ? 'the bearer token is not the admin token'
          : 'the admin API needs "Authorization: Bearer <admin token>"',
      ),
    );
  });
  app.get('/v1/workers', async () => ({ workers: d.view.list() }));
  const openapi = openApiDocument();
  app.get('/openapi.json', async () => openapi);
  app.get('/metrics', async (_req, reply) =>
    reply.header('content-type', d.metrics.registry.contentType).send(await d.metrics.registry.metrics()),
  );
}
