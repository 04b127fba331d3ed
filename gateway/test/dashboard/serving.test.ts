import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardRoutes, UI_CSP } from '../../src/http/dashboard.js';
import { openTestApp, type TestApp } from '../test-app.js';

let t: TestApp;

beforeAll(async () => {
  t = await openTestApp({ tag: 'ui' });
});

afterAll(() => t?.close());

const SECURITY = {
  'content-security-policy': UI_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

describe('the dashboard files under /ui', () => {
  it('serves the page with its security headers, uncached, and without the admin token', async () => {
    const redirect = await t.app.inject({ method: 'GET', url: '/ui' });
    expect(redirect.statusCode).toBe(301);
    expect(redirect.headers.location).toBe('ui/');
    const page = await t.app.inject({ method: 'GET', url: '/ui/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers).toMatchObject({ ...SECURITY, 'cache-control': 'no-cache' });
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    // Only relative references to its own hashed files; nothing from another origin.
    const refs = [...page.body.matchAll(/\b(?:src|href)\s*=\s*"([^"]*)"/g)].map((m) => m[1]);
    expect(refs.sort()).toEqual([
      expect.stringMatching(/^assets\/main-[A-Z0-9]+\.css$/),
      expect.stringMatching(/^assets\/main-[A-Z0-9]+\.js$/),
    ]);
    expect(page.body).not.toMatch(/https?:\/\//);
    expect(UI_CSP).not.toMatch(/unsafe/);
  });

  it('serves the hashed assets immutable, gzipped when asked, and nothing else', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/ui/' });
    const js = /src="(assets\/[^"]+\.js)"/.exec(page.body)?.[1];
    const plain = await t.app.inject({ method: 'GET', url: `/ui/${js}` });
    expect(plain.statusCode).toBe(200);
    expect(plain.headers).toMatchObject({
      ...SECURITY,
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=31536000, immutable',
      vary: 'accept-encoding',
    });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.rawPayload.length).toBeGreaterThan(100_000);
    const gz = await t.app.inject({
      method: 'GET',
      url: `/ui/${js}`,
      headers: { 'accept-encoding': 'gzip, br' },
    });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.rawPayload).equals(plain.rawPayload)).toBe(true);
    for (const url of [
      '/ui/assets/nope.js',
      '/ui/assets/..%2Findex.html',
      '/ui/assets/..%2F..%2Fpackage.json',
      '/ui/assets/%2e%2e%2f%2e%2e%2fsrc%2findex.ts',
      '/ui/index.html/../../package.json',
    ]) {
      const res = await t.app.inject({ method: 'GET', url });
      expect({ url, status: res.statusCode }).toEqual({ url, status: 404 });
      expect(res.json()).toMatchObject({ error: { code: 'ROUTE_NOT_FOUND' } });
    }
  });

  it('leaves the API closed: the page is public, its data calls need the token', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/ui/' })).statusCode).toBe(200);
    const data = await t.app.inject({ method: 'GET', url: '/v1/functions' });
    expect(data.statusCode).toBe(401);
  });

  it('answers 404 saying so when the dashboard is not built', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'thaw-ui-'));
    const app = Fastify();
    try {
      await app.register(dashboardRoutes, { dir });
      const res = await app.inject({ method: 'GET', url: '/ui/' });
      expect(res.statusCode).toBe(404);
      expect(res.body).toContain('the dashboard is not built');
    } finally {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
