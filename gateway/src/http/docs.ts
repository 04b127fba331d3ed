import Fastify, { type FastifyInstance } from 'fastify';

/** Where the API reference is served; its script is at `${DOCS_PREFIX}/js/scalar.js`. */
export const DOCS_PREFIX = '/docs';
/** The reference's routes: /docs redirects to the page, which loads one script. */
const DOCS_ROUTES = [DOCS_PREFIX, `${DOCS_PREFIX}/`, `${DOCS_PREFIX}/js/scalar.js`];
/** The headers of the reference's answers that mean something to a browser here. */
const PASSED_HEADERS = ['content-type', 'location'];

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * A fastify instance of its own serving Scalar's reference of `/openapi.json`. Every feature
 * that would call out of the host is off: the web fonts (fonts.scalar.com), telemetry, the
 * "open in client" button, Scalar's agent and MCP panels and its request proxy. Gateways often
 * run where the internet is not reachable, and an operator's browser should not tell a third
 * party which API it reads.
 */
async function reference(): Promise<FastifyInstance> {
  const { default: apiReference } = await import('@scalar/fastify-api-reference');
  const inner = Fastify();
  await inner.register(apiReference, {
    routePrefix: DOCS_PREFIX,
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
  await inner.ready();
  return inner;
}

/**
 * `GET /docs`: the browsable API reference. Everything it loads comes from this gateway: the
 * page, its one script (bundled in node_modules) and the document. The bundle is 4 MB of
 * JavaScript, about a second and 30 MiB to load: it is loaded on the first request for the
 * docs, not when the gateway starts.
 */
export async function docsRoutes(app: FastifyInstance): Promise<void> {
  let loaded: Promise<FastifyInstance> | undefined;
  // The answers are the same for every request (the page names no host): kept, one per route.
  const answers = new Map<string, Promise<Answer>>();
  app.addHook('onClose', async () => {
    await (await loaded?.catch(() => undefined))?.close();
  });
  const answer = async (url: string): Promise<Answer> => {
    loaded ??= reference();
    const res = await (await loaded).inject({ method: 'GET', url });
    const headers: Record<string, string> = {};
    for (const h of PASSED_HEADERS) {
      const v = res.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    return { status: res.statusCode, headers, body: res.rawPayload };
  };
  for (const url of DOCS_ROUTES) {
    app.get(url, { logLevel: 'silent' }, async (_req, reply) => {
      let a = answers.get(url);
      if (!a) {
        a = answer(url).catch((err: unknown) => {
          // The next request tries again rather than keep a failure.
          answers.delete(url);
          loaded = undefined;
          throw err;
        });
        answers.set(url, a);
      }
      const { status, headers, body } = await a;
      // An empty body (the redirect) is sent as none, not as an empty octet stream.
      return reply
        .code(status)
        .headers(headers)
        .send(body.length > 0 ? body : undefined);
    });
  }
}
