import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Platform, startPlatform, workerEnvFor } from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/index.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));
const rt = scratchRuntimeOptions('clipy');
let platform: Platform;
let tmp: string;

beforeAll(async () => {
  tmp = mkdtempSync('/tmp/thaw-buildpy-');
  platform = await startPlatform({
    gatewayPort: 0,
    prefix: `clipy${process.pid}`,
    logs: 'buffer',
    workerEnv: workerEnvFor(rt),
  });
}, 120_000);

afterAll(async () => {
  await platform?.close();
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
  await rm(tmp, { recursive: true, force: true });
});

async function cli(args: string[]) {
  let out = '';
  let err = '';
  const code = await run(
    args,
    { out: (s) => (out += s), err: (s) => (err += s), tty: false },
    { ...process.env, THAW_URL: platform.gatewayUrl, THAW_TOKEN: platform.token },
  );
  return { code, out, err };
}

/** `thaw build --json` of a directory into the test's folder. */
async function build(dir: string, out: string) {
  const r = await cli(['build', dir, '-o', join(tmp, out), '--json']);
  expect(r, r.err).toMatchObject({ code: 0, err: '' });
  return JSON.parse(r.out) as { digest: string; mode: string; language: string };
}

/** The function as curl sees it: status line and body of GET /fn/NAME/PATH. */
async function curl(path: string): Promise<{ status: number; body: string }> {
  const { stdout } = await promisify(execFile)('curl', [
    '-s',
    '-w',
    '\n%{http_code}',
    `${platform.gatewayUrl}/fn/${path}`,
  ]);
  const i = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) };
}

describe('thaw build for Python', () => {
  it('builds the same bytes twice from the host python3 (handler and server forms)', async () => {
    const a = await build(`${EXAMPLES}/python-hello`, 'a.tar');
    const b = await build(`${EXAMPLES}/python-hello`, 'b.tar');
    expect(a).toMatchObject({ mode: 'python handler', language: 'python' });
    expect(b.digest).toBe(a.digest);
    const s = await build(`${EXAMPLES}/python-server`, 's.tar');
    expect(s.mode).toBe('python server');
    expect(s.digest).not.toBe(a.digest);
  }, 60_000);

  it('deploys the handler example, which answers through the CLI and curl with the request and its context', async () => {
    const deployed = await cli([
      'deploy',
      `${EXAMPLES}/python-hello`,
      '--name',
      'pyhello',
      '--env',
      'THAW_FUNCTION_NAME=pyhello',
    ]);
    expect(deployed.err).toMatch(/built .* \(python handler\)/);
    expect(deployed.code, deployed.err).toBe(0);
    const r = await cli(['invoke', 'pyhello', '/hi?name=ada', '-d', 'four', '--json']);
    expect(r.code, r.err).toBe(0);
    const res = JSON.parse(r.out) as { status: number; body: string };
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body) as Record<string, unknown>;
    expect(body).toMatchObject({
      greeting: 'hello, ada',
      method: 'POST',
      path: '/hi',
      bytes: 4,
      function: 'pyhello',
    });
    expect(body.python).toMatch(/^3\.\d+\.\d+$/);
    expect(body.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.remainingMs).toBeGreaterThan(20_000);
    expect(body.remainingMs).toBeLessThanOrEqual(30_000);

    const c = await curl('pyhello/x/y?name=bob');
    expect(c.status).toBe(200);
    expect(JSON.parse(c.body)).toMatchObject({
      greeting: 'hello, bob',
      method: 'GET',
      path: '/x/y',
      bytes: 0,
    });

    // A raise: a 500 with the error as JSON; the traceback goes to the instance's log.
    const boom = await curl('pyhello/?name=error');
    expect(boom).toEqual({ status: 500, body: '{"error": "no greeting for error", "type": "ValueError"}' });
    let logs = '';
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(250)) {
      logs = (await cli(['logs', 'pyhello'])).out;
      if (logs.includes('ValueError: no greeting for error')) break;
    }
    expect(logs).toContain('greeting ada (4 bytes in)');
    expect(logs).toContain('Traceback (most recent call last)');
    expect(logs).toContain('ValueError: no greeting for error');
    expect((await cli(['rm', 'pyhello'])).code).toBe(0);
  }, 120_000);

  it('deploys a plain server.py and runs it as it is', async () => {
    const deployed = await cli(['deploy', `${EXAMPLES}/python-server`, '--name', 'pyserver']);
    expect(deployed.code, deployed.err).toBe(0);
    expect(await curl('pyserver/a?b=1')).toEqual({
      status: 200,
      body: '{"server": "python", "path": "/a?b=1"}',
    });
    expect((await cli(['rm', 'pyserver'])).code).toBe(0);
  }, 120_000);

  it('refuses a requirements.txt that is not vendored, and a directory of no known kind', async () => {
    const req = mkdtempSync(join(tmp, 'req-'));
    writeFileSync(join(req, 'handler.py'), 'def handler(event, context):\n    return 1\n');
    writeFileSync(join(req, 'requirements.txt'), 'requests\n');
    const r = await cli(['build', req, '-o', join(tmp, 'req.tar')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('pip install --target vendor -r requirements.txt');

    const unknown = mkdtempSync(join(tmp, 'unknown-'));
    writeFileSync(join(unknown, 'main.rb'), 'puts 1\n');
    const u = await cli(['build', unknown, '-o', join(tmp, 'u.tar')]);
    expect(u.code).toBe(2);
    expect(u.err).toContain('is not a function thaw can build');
    for (const kind of ['server binary', 'Node (handler.mjs', 'Python (handler.py'])
      expect(u.err).toContain(kind);
  });
});
