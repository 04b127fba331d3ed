import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Platform, startPlatform } from '@thaw/devkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contextsFile, run } from '../src/index.js';

// `thaw context` against a real gateway (NATS and Redis, no worker: nothing is invoked).
let platform: Platform;
let dir: string;
/** The environment every command gets: its own config folder, no THAW_* from the caller. */
let base: NodeJS.ProcessEnv;
/** A URL nothing listens on. */
let closedUrl: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'thaw-clicontext-'));
  base = { PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: join(dir, 'xdg') };
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  closedUrl = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
  await new Promise((r) => srv.close(r));
  platform = await startPlatform({
    gatewayPort: 0,
    prefix: `cx${process.pid}`,
    logs: 'buffer',
    worker: false,
  });
}, 120_000);

afterAll(async () => {
  await platform?.close();
  await rm(dir, { recursive: true, force: true });
});

async function thaw(args: string[], env: Record<string, string> = {}) {
  let out = '';
  let err = '';
  const code = await run(
    args,
    { out: (s) => (out += s), err: (s) => (err += s), tty: false },
    { ...base, ...env },
  );
  return { code, out, err };
}

describe('thaw context', () => {
  it('saves gateways with their tokens in a 0600 file and uses the current one by default', async () => {
    const file = contextsFile(base);
    expect(file).toBe(join(dir, 'xdg', 'thaw', 'contexts.json'));
    // A file left with a wider mode is narrowed by the next write.
    mkdirSync(join(dir, 'xdg', 'thaw'), { recursive: true });
    writeFileSync(file, '{"contexts":{}}\n', { mode: 0o644 });
    chmodSync(file, 0o644);

    const added = await thaw([
      'context',
      'add',
      'dev',
      '--url',
      `${platform.gatewayUrl}/`,
      '--token',
      platform.token,
    ]);
    expect(added).toMatchObject({ code: 0, err: '' });
    expect(added.out).toContain('thaw context use dev');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
      contexts: { dev: { url: platform.gatewayUrl, token: platform.token } },
    });
    expect(
      await thaw(['context', 'add', 'bad', '--url', platform.gatewayUrl, '--token', 'wrong']),
    ).toMatchObject({
      code: 0,
    });

    // No current context yet: commands go elsewhere (here: a URL nothing answers on).
    expect((await thaw(['ls'], { THAW_URL: closedUrl })).code).toBe(3);
    expect(await thaw(['context', 'use', 'dev'])).toMatchObject({ code: 0, out: 'current context: dev\n' });
    expect(await thaw(['ls', '--json'])).toMatchObject({ code: 0, out: '[]\n' });
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const ls = await thaw(['context', 'ls']);
    expect(ls.out).toMatch(new RegExp(`^NAME +URL +TOKEN\\nbad +${platform.gatewayUrl} +set\\ndev \\* +`));
    expect(JSON.parse((await thaw(['context', 'ls', '--json'])).out)).toEqual([
      { name: 'bad', current: false, url: platform.gatewayUrl, token: true },
      { name: 'dev', current: true, url: platform.gatewayUrl, token: true },
    ]);
  });

  it('follows the documented precedence: flags, --context, THAW_URL, THAW_CONTEXT, the current context', async () => {
    // --context beats the current context: the wrong token is refused by the real gateway.
    const refused = await thaw(['ls', '--context', 'bad']);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('UNAUTHORIZED');
    // THAW_URL beats the current context, and --context beats THAW_URL.
    expect((await thaw(['ls'], { THAW_URL: closedUrl })).code).toBe(3);
    expect((await thaw(['ls', '--context', 'dev'], { THAW_URL: closedUrl })).code).toBe(0);
    // THAW_CONTEXT beats the current context; THAW_TOKEN never goes to a context's URL (it goes
    // with THAW_URL only), whichever way the context was chosen.
    expect((await thaw(['ls'], { THAW_CONTEXT: 'bad' })).code).toBe(1);
    expect((await thaw(['ls'], { THAW_CONTEXT: 'bad', THAW_TOKEN: platform.token })).code).toBe(1);
    expect((await thaw(['ls', '--context', 'bad'], { THAW_TOKEN: platform.token })).code).toBe(1);
    expect((await thaw(['ls'], { THAW_URL: platform.gatewayUrl, THAW_TOKEN: platform.token })).code).toBe(0);
    // --url beats the context's URL, and the context's token is not sent there.
    const show = await thaw(['context', 'show', '--json', '--url', closedUrl]);
    expect(JSON.parse(show.out)).toEqual({ url: closedUrl, from: 'flags', token: false });
    expect(JSON.parse((await thaw(['context', 'show', '--json'])).out)).toEqual({
      url: platform.gatewayUrl,
      from: 'context "dev" (the current context)',
      token: true,
    });
    expect((await thaw(['ls', '--token', platform.token], { THAW_CONTEXT: 'bad' })).code).toBe(0);
  });

  it('names an unknown context, and refuses bad names, URLs and duplicates', async () => {
    for (const args of [
      ['ls', '--context', 'nope'],
      ['context', 'use', 'nope'],
      ['context', 'rm', 'nope'],
    ]) {
      const r = await thaw(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toContain('no context "nope"');
      expect(r.err).toContain('known: bad, dev');
    }
    const unknownEnv = await thaw(['ls', '--json'], { THAW_CONTEXT: 'nope' });
    expect(unknownEnv.code).toBe(2);
    expect(JSON.parse(unknownEnv.err)).toMatchObject({ error: { code: 'CONTEXT_NOT_FOUND' } });
    expect((await thaw(['context', 'add', 'dev', '--url', closedUrl])).err).toContain('--force replaces it');
    expect((await thaw(['context', 'add', 'x y', '--url', closedUrl])).code).toBe(2);
    expect((await thaw(['context', 'add', 'x', '--url', 'ftp://host'])).code).toBe(2);
    expect((await thaw(['context', 'add', 'x'])).code).toBe(2);
    expect((await thaw(['context', 'frob'])).code).toBe(2);
  });

  it('sends any method token to a function through the current context, and refuses a malformed one', async () => {
    // No such function: the gateway's catalogue code shows the call got there.
    const webdav = await thaw(['invoke', 'nofn', '-X', 'propfind']);
    expect(webdav).toMatchObject({ code: 1 });
    expect(webdav.err).toContain('FUNCTION_NOT_FOUND');
    expect((await thaw(['invoke', 'nofn', '-X', 'GET /x'])).code).toBe(2);
  });

  it('forgets a context, and the current one with it', async () => {
    expect(await thaw(['context', 'rm', 'dev'])).toMatchObject({ code: 0, out: 'removed context "dev"\n' });
    expect(JSON.parse(readFileSync(contextsFile(base), 'utf8'))).toEqual({
      contexts: { bad: { url: platform.gatewayUrl, token: 'wrong' } },
    });
    const show = JSON.parse((await thaw(['context', 'show', '--json'])).out) as { from: string };
    expect(show.from).not.toContain('context');
    expect(await thaw(['context', 'rm', 'bad'])).toMatchObject({ code: 0 });
    expect((await thaw(['context', 'ls'])).out).toMatch(/^no contexts in /);
  });
});
