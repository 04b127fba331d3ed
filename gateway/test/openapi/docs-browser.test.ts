import { existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApp, type TestApp } from '../test-app.js';

/** Debian's package (infra/setup.sh installs it); THAW_CHROMIUM names another build. */
const CHROMIUM = process.env.THAW_CHROMIUM ?? '/usr/bin/chromium';
/** The reference renders client-side from a 4 MB script: generous on a busy 2-core host. */
const RENDER_TIMEOUT_MS = 30_000;

let t: TestApp;
let app: FastifyInstance;
let browser: Browser | undefined;
let origin: string;

describe(`/docs in headless Chromium (${CHROMIUM})`, () => {
  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(
        `${CHROMIUM} is missing: infra/setup.sh installs Debian's chromium (or set THAW_CHROMIUM)`,
      );
    t = await openTestApp({ tag: 'oab' });
    app = t.app;
    origin = await app.listen({ host: '127.0.0.1', port: 0 });
    // Root runs Chromium here: its sandbox needs an unprivileged user.
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('renders the operation list, and every request the page makes goes to the gateway', async () => {
    const page = await (browser as Browser).newPage();
    const requested: string[] = [];
    page.on('request', (req) => {
      requested.push(req.url());
    });
    await page.goto(`${origin}/docs`, { waitUntil: 'networkidle0', timeout: RENDER_TIMEOUT_MS });
    // Strings, not functions: they run in the page, and this package is typed without the DOM.
    const bodyText = 'document.body.innerText';
    await page.waitForFunction(
      `${bodyText}.includes('/v1/images') && ${bodyText}.includes('/v1/functions/{name}/logs')`,
      { timeout: RENDER_TIMEOUT_MS },
    );
    const text = String(await page.evaluate(bodyText));
    expect(text).toContain('The admin API: needs the admin token.');
    expect(text).toContain('/v1/functions/{name}/scale-to-zero');
    // data: and blob: URLs are made by the page itself; anything else must be this gateway.
    const elsewhere = requested.filter((u) => !u.startsWith(`${origin}/`) && !/^(data|blob):/.test(u));
    expect(elsewhere).toEqual([]);
    expect(requested).toEqual(
      expect.arrayContaining([`${origin}/docs/js/scalar.js`, `${origin}/openapi.json`]),
    );
    await page.close();
  }, 90_000);
});
