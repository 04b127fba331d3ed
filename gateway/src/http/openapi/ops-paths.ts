import { errors, FRAMEWORK_ERRORS, type Json, OPEN, response } from './common.js';

const health = {
  type: 'object',
  properties: {
    ok: { type: 'boolean' },
    nats: { type: 'boolean' },
    redis: { type: 'string', description: "ioredis' connection status" },
  },
  required: ['ok', 'nats', 'redis'],
};

const readiness = (operationId: string, summary: string): Json => ({
  get: {
    operationId,
    tags: ['Operations'],
    summary,
    security: OPEN,
    responses: {
      '200': response('Ready.', health, { ok: true, nats: true, redis: 'ready' }),
      ...errors(...FRAMEWORK_ERRORS),
      '503': response('NATS or Redis unreachable.', health, { ok: false, nats: false, redis: 'ready' }),
    },
  },
});

/** Probes, metrics and this document: open, no token. */
export function opsPaths(): Json {
  const open = (operationId: string, summary: string, ok: Json): Json => ({
    get: {
      operationId,
      tags: ['Operations'],
      summary,
      security: OPEN,
      responses: { '200': ok, ...errors(...FRAMEWORK_ERRORS) },
    },
  });
  return {
    '/livez': open(
      'livez',
      'Liveness: the process answers',
      response(
        'Alive.',
        { type: 'object', properties: { ok: { const: true } }, required: ['ok'] },
        { ok: true },
      ),
    ),
    '/readyz': readiness('readyz', 'Readiness: NATS connected and Redis ready'),
    '/healthz': readiness('healthz', 'Readiness (older name of /readyz)'),
    '/metrics': open('metrics', 'Prometheus metrics', {
      description: 'Prometheus text format.',
      content: {
        'text/plain': { schema: { type: 'string' }, example: 'thaw_gateway_invocations_total 0\n' },
      },
    }),
    '/openapi.json': open('openapi', 'This document', {
      description: 'The OpenAPI 3.1 document.',
      content: { 'application/json': { schema: { type: 'object' } } },
    }),
    // Scalar serves the page at /docs/ (a trailing slash, so that its script's relative URL
    // resolves under /docs/); the path users type is /docs. The page and its script are not API.
    '/docs': {
      get: {
        operationId: 'docs',
        tags: ['Operations'],
        summary: 'Browsable API reference of this document (redirects to the page at /docs/)',
        security: OPEN,
        responses: {
          '301': {
            description:
              'To /docs/, the HTML page (its assets are served under /docs/ too, nothing from elsewhere).',
            headers: { Location: { schema: { type: 'string', const: '/docs/' } } },
          },
          ...errors(...FRAMEWORK_ERRORS),
        },
      },
    },
    // The dashboard's page and assets are public files holding no data; its figures come from /v1
    // calls with the admin token.
    '/ui': {
      get: {
        operationId: 'dashboard',
        tags: ['Operations'],
        summary: 'Web dashboard (redirects to the page at /ui/)',
        security: OPEN,
        responses: {
          '301': {
            description:
              'To ui/ (relative: /ui/), the HTML page; its assets are under /ui/assets/ (docs/dashboard.md).',
            headers: { Location: { schema: { type: 'string', const: 'ui/' } } },
          },
          ...errors(...FRAMEWORK_ERRORS),
        },
      },
    },
  };
}
