import type { FastifyInstance } from 'fastify';

/** Where the API reference is served; its script is at `${DOCS_PREFIX}/js/scalar.js`. */
export const DOCS_PREFIX = '/docs';

/**
 * `GET /docs`: a browsable API reference (Scalar) of `/openapi.json`. Everything it loads comes
 * from this gateway: the page, its one script (bundled in node_modules, served from memory) and
 * the document. Gateways often run where the internet is not reachable, and an operator's
 * browser should not tell a third party which API it reads, so every feature that would call
 * out is off: the web fonts (fonts.scalar.com), telemetry, the "open in client" button and
 * Scalar's agent and MCP panels; the request proxy and its other service URLs point here.
 */
export async function docsRoutes(app: FastifyInstance): Promise<void> {
  // Imported when registered, not with the module: the bundle is 4 MB of JavaScript.
  const { default: apiReference } = await import('@scalar/fastify-api-reference');
  await app.register(apiReference, {
    routePrefix: DOCS_PREFIX,
    logLevel: 'silent',
    configuration: {
      url: '/openapi.json',
      pageTitle: 'thaw API reference',
      withDefaultFonts: false,
      telemetry: false,
      hideClientButton: true,
      mcp: { disabled: true },
      agent: { disabled: true },
      // Same-origin requests need no proxy; an empty URL is Scalar's "do not proxy".
      proxyUrl: '',
    },
  });
}
