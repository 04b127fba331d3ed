import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPENAPI_METHODS } from '../../src/http/openapi/invoke-paths.js';
import { openApiDocument } from '../../src/http/openapi.js';
import { openTestApp, type TestApp } from '../test-app.js';
import { registeredRoutes, shape } from './routes.js';

let t: TestApp;
let app: FastifyInstance;

/** The static files of /docs and /ui: described by their page's entry, not one by one. */
const DOCS_ASSETS = new Set(['/docs/', '/docs/js/scalar.js', '/ui/', '/ui/assets/:file']);

beforeAll(async () => {
  t = await openTestApp({ tag: 'oa' });
  app = t.app;
});

afterAll(() => t?.close());

describe('the OpenAPI document and the served routes', () => {
  it('describes every route and method the gateway serves', async () => {
    const doc = openApiDocument() as { paths: Record<string, Record<string, unknown>> };
    const described = new Map(Object.entries(doc.paths).map(([p, item]) => [shape(p), item]));
    const routes = registeredRoutes(app.printRoutes());
    expect(routes.length).toBeGreaterThan(10);
    const missing: string[] = [];
    for (const { url, methods } of routes) {
      if (DOCS_ASSETS.has(url)) continue;
      const item = described.get(shape(url));
      const anyMethod = OPENAPI_METHODS.every((m) => item?.[m]);
      for (const method of methods) {
        const m = method.toLowerCase();
        if (item?.[m]) continue;
        // fastify answers HEAD for every GET route by itself.
        if (m === 'head' && methods.includes('GET')) continue;
        // An any-method route: OpenAPI 3.1 cannot list PROPFIND and the like (its description names them).
        if (anyMethod && !(OPENAPI_METHODS as readonly string[]).includes(m)) continue;
        missing.push(`${method} ${url}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('describes no route the gateway does not serve', () => {
    const doc = openApiDocument() as { paths: Record<string, Record<string, unknown>> };
    const served = new Set(registeredRoutes(app.printRoutes()).map((r) => shape(r.url)));
    expect(Object.keys(doc.paths).filter((p) => !served.has(shape(p)))).toEqual([]);
  });

  it('serves /openapi.json as generated', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(JSON.parse(JSON.stringify(openApiDocument())));
  });

  it('serves /docs from the gateway alone: the page and its script, nothing from another origin', async () => {
    const redirect = await app.inject({ method: 'GET', url: '/docs' });
    expect(redirect.statusCode).toBe(301);
    expect(redirect.headers.location).toBe('/docs/');
    const page = await app.inject({ method: 'GET', url: '/docs/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    // Every file the page loads is a relative URL, and it reads this gateway's document.
    const refs = [...page.body.matchAll(/\b(?:src|href)\s*=\s*"([^"]*)"/g)].map((m) => m[1]);
    expect(refs).toEqual(['js/scalar.js']);
    expect(page.body).not.toMatch(/https?:\/\//);
    expect(page.body).toContain('"url": "/openapi.json"');
    expect(page.body).toContain('"withDefaultFonts": false');
    const script = await app.inject({ method: 'GET', url: '/docs/js/scalar.js' });
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toMatch(/^application\/javascript/);
    expect(script.body.length).toBeGreaterThan(100_000);
  });
});
