import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Platform, type Service, startPlatform, startRegistry, workerEnvFor } from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { buildTestImage } from '@thaw/runtime/testimages';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** Debian's package (infra/setup.sh installs it); THAW_CHROMIUM names another build. */
const CHROMIUM = process.env.THAW_CHROMIUM ?? '/usr/bin/chromium';
/** The page refreshes every 2 s: a state shows within a few refreshes, even on a busy host. */
const SHOWN_WITHIN_MS = 20_000;
/** Git-ignored: the screenshots of every run. */
const SHOTS = fileURLToPath(new URL('../../../.test-results/screenshots/', import.meta.url));
/** How long the call that keeps an instance running lasts: long enough to be seen. */
const BUSY_MS = 6000;
const WARM_CALLS = 20;

const rt = scratchRuntimeOptions('dsh');
let platform: Platform;
let registry: Service;
let reference: string;
/** The second gateway: the page is served and used through it, the test checks through the first. */
let b: string;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM} is missing: infra/setup.sh installs Debian's chromium (or set THAW_CHROMIUM)`,
    );
  platform = await startPlatform({
    gatewayPort: 0,
    prefix: `dsh${process.pid}`,
    logs: 'buffer',
    // Its registry is on this host, an address workers refuse by default.
    workerEnv: { ...workerEnvFor(rt), THAW_REGISTRY_PRIVATE: 'allow' },
  });
  b = await platform.addGateway();
  const image = await buildTestImage('node-hello', 'docker-archive', join(rt.stateDir, 'archives'));
  registry = await startRegistry();
  reference = `${new URL(registry.url).host}/team/hello:1`;
  execFileSync('skopeo', [
    'copy',
    '--dest-tls-verify=false',
    `docker-archive:${image.path}`,
    `docker://${reference}`,
  ]);
  await mkdir(SHOTS, { recursive: true });
  // Root runs Chromium here: its sandbox needs an unprivileged user.
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox'],
    defaultViewport: { width: 1280, height: 900 },
  });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await platform?.close();
  await registry?.close();
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
});

/** Strings, not functions, run in the page: this package is typed without the DOM. */
const textOf = (selector: string) => `(document.querySelector(${JSON.stringify(selector)})?.innerText ?? '')`;

async function shows(page: Page, condition: string, what: string): Promise<void> {
  try {
    await page.waitForFunction(condition, { timeout: SHOWN_WITHIN_MS });
  } catch (err) {
    await page.screenshot({ path: join(SHOTS, `dashboard-failed-${what.replace(/\W+/g, '-')}.png`) });
    throw new Error(
      `the page did not show ${what}: ${String(await page.evaluate('document.body.innerText'))}`,
      {
        cause: err,
      },
    );
  }
}

async function fill(page: Page, selector: string, text: string): Promise<void> {
  await page.click(selector, { count: 3 });
  await page.keyboard.press('Backspace');
  await page.type(selector, text);
}

async function apiStatus(path: string): Promise<number> {
  return (await platform.fetch(`${platform.gatewayUrl}${path}`)).status;
}

describe(`the dashboard in headless Chromium (${CHROMIUM})`, () => {
  it('signs in, deploys, shows an instance go running → frozen, its logs and figures, updates and deletes', async () => {
    const page = await (browser as Browser).newPage();
    const elsewhere: string[] = [];
    const refused: string[] = [];
    page.on('request', (req) => {
      if (!req.url().startsWith(`${b}/`) && !/^(data|blob):/.test(req.url())) elsewhere.push(req.url());
    });
    // Every CSP violation, with where it came from (the console line alone does not say).
    await page.evaluateOnNewDocument(
      `document.addEventListener('securitypolicyviolation', (e) => console.log('csp-violation', e.violatedDirective, e.sourceFile, e.lineNumber, e.columnNumber))`,
    );
    page.on('console', (msg) => {
      if (/Content Security Policy|Refused to|csp-violation/i.test(msg.text())) refused.push(msg.text());
    });
    page.on('pageerror', (err) => refused.push(`page error: ${String(err)}`));
    const name = 'dash';

    // Sign-in: a wrong token is refused with the gateway's message; the right one is kept.
    await page.goto(`${b}/ui`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('#sign-in');
    await page.type('#sign-in input[name=token]', 'not-the-token');
    await page.click('#sign-in button[type=submit]');
    await shows(page, `${textOf('#sign-in')}.includes('UNAUTHORIZED')`, 'the refused token');
    await fill(page, '#sign-in input[name=token]', platform.token);
    await page.click('#sign-in button[type=submit]');
    await page.waitForSelector('#deploy');
    expect(await page.evaluate(`sessionStorage.getItem('thaw.adminToken')`)).toBe(platform.token);
    expect(page.url()).not.toContain(platform.token);

    // A refused deploy shows the API's code and message.
    await page.type('#deploy input[name=name]', name);
    await page.type('#deploy input[name=image]', 'not a reference');
    await page.click('#deploy button[type=submit]');
    await shows(page, `${textOf('#deploy')}.includes('VALIDATION_FAILED')`, 'the refused deploy');

    // Deploy from a registry reference through this gateway (B); the other (A) serves it.
    await fill(page, '#deploy input[name=image]', reference);
    await page.click('#deploy button[type=submit]');
    await shows(page, `location.hash === '#/fn/${name}'`, 'the new function');
    await shows(page, `${textOf('#function-status')}.startsWith('ready')`, 'the function ready');
    await shows(page, `!!document.querySelector('#instances tr[data-state=frozen]')`, 'a frozen instance');
    expect(await apiStatus(`/v1/functions/${name}`)).toBe(200);

    // The list: the function's status, revision, image and instances, and the worker holding them.
    await page.click('nav a[href="#/"]');
    const row = `#functions tr[data-function=${name}]`;
    const rowHas = (...parts: string[]) =>
      parts.map((x) => `${textOf(row)}.includes(${JSON.stringify(x)})`).join(' && ');
    await shows(
      page,
      `${rowHas('ready', reference, '128 MiB')} && /[1-9]\\d* frozen/.test(${textOf(row)})`,
      'the function in the list',
    );
    await shows(page, `/\\d+ \\/ \\d+ MiB/.test(${textOf('#workers tbody')})`, 'the worker');
    await page.click(`${row} a`);
    await shows(page, `!!document.querySelector('#instances tr[data-state=frozen]')`, 'the function again');

    // A log line, then a call that keeps the instance running for a while: both through A.
    const marker = `hello-from-the-dashboard-test-${process.pid}`;
    expect((await fetch(`${platform.gatewayUrl}/fn/${name}/log?msg=${marker}`)).status).toBe(200);
    const busy = fetch(`${platform.gatewayUrl}/fn/${name}/sleep?ms=${BUSY_MS}`);
    await shows(page, `!!document.querySelector('#instances tr[data-state=running]')`, 'a running instance');
    await page.screenshot({ path: join(SHOTS, 'dashboard-running.png') });
    expect((await busy).status).toBe(200);
    // A few warm calls, so that the figures have more than the two calls above.
    for (let i = 0; i < WARM_CALLS; i++) {
      expect((await fetch(`${platform.gatewayUrl}/fn/${name}/`)).status).toBe(200);
    }
    await shows(
      page,
      `!document.querySelector('#instances tr[data-state=running]') && !!document.querySelector('#instances tr[data-state=frozen]')`,
      'the instance frozen again',
    );
    await shows(page, `${textOf('#logs')}.includes('${marker}')`, 'the log line');

    // The figures (GET /v1/stats, every gateway's counts): Vega labels each point of the charts
    // with its fields, so the calls above show as a rate above 0 and a p99 latency.
    expect(await apiStatus(`/v1/stats?since=15m&function=${name}`)).toBe(200);
    const pointLabels = `[...document.querySelectorAll('#charts svg [aria-label]')].map((e) => e.getAttribute('aria-label'))`;
    await shows(
      page,
      `${pointLabels}.some((l) => /series: rate/.test(l) && !/value: 0(;|$)/.test(l)) && ${pointLabels}.some((l) => /series: p99/.test(l))`,
      'the calls in the charts',
    );
    await page.screenshot({ path: join(SHOTS, 'dashboard-function.png'), fullPage: true });

    // Update env and a limit: revision 2, seen through A.
    await fill(page, '#update textarea[name=env]', 'GREETING=hallo');
    await fill(page, '#update input[name=timeoutMs]', '5000');
    await page.click('#update button[type=submit]');
    await shows(page, `${textOf('#function-status')}.includes('revision 2')`, 'revision 2');
    const env = (await (await fetch(`${platform.gatewayUrl}/fn/${name}/env`)).json()) as Record<
      string,
      string
    >;
    expect(env.GREETING).toBe('hallo');
    const record = (await (await platform.fetch(`${platform.gatewayUrl}/v1/functions/${name}`)).json()) as {
      timeoutMs: number;
      image: string;
    };
    expect(record).toMatchObject({ timeoutMs: 5000, image: reference });

    // Delete: refused until the name is typed again.
    expect(await page.evaluate(`document.querySelector('#delete button').disabled`)).toBe(true);
    await page.type('#delete input[name=confirm]', name);
    await page.click('#delete button');
    await shows(page, `location.hash === '#/'`, 'the list after the delete');
    expect(await apiStatus(`/v1/functions/${name}`)).toBe(404);

    // A token the gateway no longer takes: the next refresh returns to sign-in with its message.
    await page.evaluate(`sessionStorage.setItem('thaw.adminToken', 'a-revoked-token')`);
    await page.waitForSelector('#sign-in', { timeout: SHOWN_WITHIN_MS });
    await shows(page, `${textOf('#sign-in')}.includes('UNAUTHORIZED')`, 'why the page signed out');
    expect(await page.evaluate(`sessionStorage.getItem('thaw.adminToken')`)).toBeNull();
    await page.type('#sign-in input[name=token]', platform.token);
    await page.click('#sign-in button[type=submit]');
    await page.waitForSelector('#deploy');

    // Sign-out forgets the token.
    await page.click('#sign-out');
    await page.waitForSelector('#sign-in');
    expect(await page.evaluate(`sessionStorage.getItem('thaw.adminToken')`)).toBeNull();

    expect(elsewhere).toEqual([]);
    expect(refused).toEqual([]);
    await page.close();
  }, 120_000);
});
