import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveTarget } from '../src/index.js';

const CLI = fileURLToPath(new URL('../bin/thaw.mjs', import.meta.url));
let dir: string;
/** A folder whose .thaw/config.json names the recording server below, with its own token. */
let project: string;
let server: Server;
let serverUrl: string;
/** The Authorization header of every request the server got. */
const seen: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'thaw-clitarget-'));
  server = createServer((req, res) => {
    seen.push(req.headers.authorization ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ functions: [] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  project = join(dir, 'project');
  mkdirSync(join(project, '.thaw'), { recursive: true });
  mkdirSync(join(project, 'sub', 'dir'), { recursive: true });
  writeFileSync(
    join(project, '.thaw', 'config.json'),
    JSON.stringify({ url: serverUrl, token: 'file-token' }),
  );
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

/** The CLI as a user runs it: in `cwd`, with no THAW_* settings but `env`, HOME in the temp folder. */
function thaw(args: string[], cwd: string, env: Record<string, string> = {}) {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('THAW_')) base[k] = v;
  return new Promise<{ code: number; out: string; err: string }>((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd, env: { ...base, HOME: dir, ...env } }, (e, out, err) =>
      resolve({ code: e ? Number(e.code) : 0, out, err }),
    );
  });
}

describe('where the CLI sends its requests and tokens', () => {
  it('reads .thaw/config.json from the folder or above it, with no environment set', async () => {
    seen.length = 0;
    const top = await thaw(['ls', '--json'], project);
    expect(top).toMatchObject({ code: 0, out: '[]\n' });
    const below = await thaw(['ls', '--json'], join(project, 'sub', 'dir'));
    expect(below.code).toBe(0);
    expect(seen).toEqual(['Bearer file-token', 'Bearer file-token']);
  });

  it('never sends a token from a flag or the environment to the URL of a config file', async () => {
    seen.length = 0;
    // Nothing answers on port 9 (discard): where the CLI goes instead stays on this machine.
    const elsewhere = { THAW_URL: 'http://127.0.0.1:9' };
    await thaw(['ls'], project, { THAW_TOKEN: 'env-token' });
    await thaw(['ls', '--token', 'flag-token'], project);
    await thaw(['invoke', 'fn'], project, { THAW_INVOKE_TOKEN: 'env-invoke-token' });
    await thaw(['invoke', 'fn', '--invoke-token', 'flag-invoke-token'], project);
    expect(seen).toEqual([]);
    // Sent where the URL is explicit too: the server records what it is given.
    await thaw(['ls', '--url', serverUrl, '--token', 'flag-token'], project);
    await thaw(['invoke', 'fn'], project, { THAW_URL: serverUrl, THAW_INVOKE_TOKEN: 'env-invoke-token' });
    // A config file's token goes only to that file's URL: not to another one given by flag.
    const other = await thaw(['ls'], project, elsewhere);
    expect(other.code).toBe(3);
    expect(seen).toEqual(['Bearer flag-token', 'Bearer env-invoke-token']);
  });

  it('resolves flags, environment, config files and defaults in that order', () => {
    const env = { HOME: dir };
    expect(resolveTarget({}, env, join(project, 'sub'))).toEqual({
      url: serverUrl,
      token: 'file-token',
      from: join(project, '.thaw', 'config.json'),
    });
    expect(resolveTarget({}, env, dir)).toEqual({ url: 'http://localhost:8080', from: 'defaults' });
    // The file's token with the file's URL given explicitly (a trailing slash is no other URL).
    expect(resolveTarget({ url: `${serverUrl}/` }, env, project)).toMatchObject({
      url: serverUrl,
      token: 'file-token',
    });
    expect(resolveTarget({ url: 'http://a:1' }, { ...env, THAW_TOKEN: 'x' }, project)).toEqual({
      url: 'http://a:1',
      token: 'x',
      from: 'flags/env',
    });
    expect(resolveTarget({ url: 'http://a:1' }, env, project).token).toBeUndefined();
    const ignored = resolveTarget({ invokeToken: 'i' }, env, project);
    expect(ignored).toMatchObject({ url: 'http://localhost:8080', invokeToken: 'i' });
    expect(ignored.token).toBeUndefined();
    expect(ignored.from).toContain(`not sent to the URL in ${join(project, '.thaw', 'config.json')}`);
    // THAW_CONFIG names a file; ~/.config/thaw/config.json is the last resort.
    const named = join(dir, 'named.json');
    writeFileSync(named, JSON.stringify({ url: 'http://named:1', token: 'named-token' }));
    expect(resolveTarget({}, { ...env, THAW_CONFIG: named }, project)).toMatchObject({
      url: 'http://named:1',
      token: 'named-token',
    });
    mkdirSync(join(dir, '.config', 'thaw'), { recursive: true });
    writeFileSync(join(dir, '.config', 'thaw', 'config.json'), JSON.stringify({ url: 'http://home:1' }));
    expect(resolveTarget({}, env, dir)).toMatchObject({ url: 'http://home:1' });
  });
});
