import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkTarget, interfaceAddresses, type Resolved, type Resolver } from '@thaw/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliver } from '../../src/async/callback.js';
import { outageWait } from '../../src/async/run.js';

/** A resolver that answers from a script, one answer per lookup, and counts lookups. */
function scripted(...answers: Resolved[][]): Resolver & { lookups: string[] } {
  const lookups: string[] = [];
  const resolve = async (host: string) => {
    lookups.push(host);
    const next = answers[Math.min(lookups.length - 1, answers.length - 1)];
    if (!next) throw new Error(`no answer for ${host}`);
    return next;
  };
  return Object.assign(resolve, { lookups });
}

const v4 = (address: string): Resolved => ({ address, family: 4 });

/** This host's first non-loopback address (eth0's on the test machines). */
function outside(): Resolved {
  const a = interfaceAddresses().find((x) => !x.address.startsWith('127.') && x.address !== '::1');
  if (!a) throw new Error('this host has no address but loopback');
  return a;
}

let server: ReturnType<typeof createServer>;
let port: number;
const got: { headers: IncomingHttpHeaders; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('the callback address guard', () => {
  it("refuses this host's own addresses on every interface, not only loopback", async () => {
    const own = outside();
    const url = own.family === 6 ? `http://[${own.address}]:9/x` : `http://${own.address}:9/x`;
    const t = await checkTarget(url, { allowPrivate: false });
    expect(t).toMatchObject({ ok: false });
    expect(t.ok ? '' : t.reason).toContain(own.address);
    // Through a name too, and an IPv4-mapped form of a local IPv4 address.
    const byName = await checkTarget('http://hook.example/x', {
      allowPrivate: false,
      resolve: scripted([v4('203.0.113.9')]),
      local: () => [v4('203.0.113.9')],
    });
    expect(byName).toMatchObject({ ok: false, reason: expect.stringMatching(/this host's own addresses/) });
    const mapped = await checkTarget('http://[::ffff:203.0.113.9]/x', {
      allowPrivate: false,
      local: () => [v4('203.0.113.9')],
    });
    expect(mapped).toMatchObject({ ok: false });
    expect(await checkTarget(url, { allowPrivate: true })).toMatchObject({ ok: true });
  });

  it('refuses a name when any of its addresses is refused; allows public ones', async () => {
    const mixed = await checkTarget('http://hook.example/x', {
      allowPrivate: false,
      resolve: scripted([v4('93.184.216.34'), v4('10.0.0.7')]),
      local: () => [],
    });
    expect(mixed).toMatchObject({ ok: false, reason: expect.stringContaining('10.0.0.7') });
    const meta = await checkTarget('http://meta.example/x', {
      allowPrivate: false,
      resolve: scripted([{ address: '64:ff9b::a9fe:a9fe', family: 6 }]),
      local: () => [],
    });
    expect(meta).toMatchObject({ ok: false });
    const pub = await checkTarget('http://hook.example/x', {
      allowPrivate: false,
      resolve: scripted([v4('93.184.216.34')]),
      local: () => [],
    });
    expect(pub).toEqual({ ok: true, host: 'hook.example', address: v4('93.184.216.34') });
  });

  it('resolves a name once and connects to the address it checked (no second lookup: DNS rebinding)', async () => {
    // First answer loopback (allowed here), every later one a documentation address nothing
    // listens on: a second lookup, ours or the system's (which knows no .test name), fails.
    const resolve = scripted([v4('127.0.0.1')], [v4('192.0.2.123')]);
    got.length = 0;
    const record = await deliver(
      {
        url: `http://rebind.test:${port}/done`,
        headers: { 'x-thaw-call-id': 'c1' },
        body: Buffer.from('hi'),
      },
      { allowPrivate: true, resolve },
      async () => undefined,
    );
    expect(record).toMatchObject({ status: 'sent', responseStatus: 200, tries: 1 });
    expect(resolve.lookups).toEqual(['rebind.test']);
    expect(got).toHaveLength(1);
    expect(got[0]?.headers.host).toBe(`rebind.test:${port}`);
    expect(got[0]?.body).toBe('hi');
  });

  it('makes no connection for a refused callback, and says why', async () => {
    got.length = 0;
    const resolve = scripted([v4('127.0.0.1')]);
    const record = await deliver(
      { url: `http://hook.test:${port}/done`, headers: {}, body: Buffer.alloc(0) },
      { allowPrivate: false, resolve },
      async () => undefined,
    );
    expect(record).toMatchObject({
      status: 'refused',
      tries: 0,
      reason: expect.stringContaining('127.0.0.1'),
    });
    expect(got).toHaveLength(0);
  });
});

describe('waits while no worker is there', () => {
  it('follow the outage so far, from 0.5 s to 5 s, a quarter either way', () => {
    expect(outageWait(0, () => 0.5)).toBe(500);
    expect(outageWait(3000, () => 0.5)).toBe(3000);
    expect(outageWait(60_000, () => 0.5)).toBe(5000);
    expect(outageWait(60_000, () => 0)).toBe(3750);
    expect(outageWait(0, () => 1)).toBe(625);
  });
});
