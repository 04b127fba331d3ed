import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Platform } from '@thaw/devkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PYTHON_RUNNER } from '../src/build/python-runner.js';
import { type CliPlatform, startCliPlatform } from './cli-platform.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));
let p: CliPlatform;
let platform: Platform;
let tmp: string;
let cli: CliPlatform['cli'];

beforeAll(async () => {
  p = await startCliPlatform('clipy');
  ({ platform, tmp, cli } = p);
}, 120_000);

afterAll(() => p?.close());

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

/** A port free a moment ago, for a runner on this host. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

/**
 * The baked runner on the host's Debian python3 (the image's interpreter) serving `handler`
 * from a temp folder in place of /app: the contract's corners without a platform.
 */
async function hostRunner(handler: string): Promise<{ url: string; proc: ChildProcess; log: () => string }> {
  const app = mkdtempSync(join(tmp, 'app-'));
  writeFileSync(join(app, 'handler.py'), handler);
  writeFileSync(join(app, 'runner.py'), PYTHON_RUNNER.replaceAll('"/app"', JSON.stringify(app)));
  const port = await freePort();
  const proc = spawn('/usr/bin/python3', [join(app, 'runner.py')], {
    env: { PORT: String(port), PYTHONDONTWRITEBYTECODE: '1', THAW_TIMEOUT_MS: '5000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  proc.stdout?.on('data', (d) => (log += d));
  proc.stderr?.on('data', (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(50)) {
    if (proc.exitCode !== null) break;
    if (
      await fetch(url, { method: 'HEAD' }).then(
        () => true,
        () => false,
      )
    )
      break;
  }
  return { url, proc, log: () => log };
}

describe('the Python handler runner', () => {
  it('maps what a handler returns: plain values, statusCode, bytes, None, coroutines', async () => {
    const r = await hostRunner(`import asyncio
def handler(event, context):
    kind = event["query"].get("kind")
    if kind == "plain":
        return [1, "two"]
    if kind == "lambda":
        return {"statusCode": 201, "headers": {"x-a": "b"}, "body": "made"}
    if kind == "bytes":
        return {"status": 202, "body": b"\\x00\\x01"}
    if kind == "none":
        return None
    if kind == "async":
        async def later():
            await asyncio.sleep(0)
            return {"body": {"async": True}}
        return later()
    if kind == "context":
        return {"name": context.function_name, "id": context.aws_request_id,
                "left": context.get_remaining_time_in_millis()}
    return {"echo": event["body"].decode(), "headers": event["headers"].get("x-in"), "query": event["query"]}
`);
    try {
      const get = async (q: string, init?: RequestInit) => {
        const res = await fetch(`${r.url}/p?kind=${q}`, init);
        return { status: res.status, type: res.headers.get('content-type'), body: await res.text(), res };
      };
      expect(await get('plain')).toMatchObject({ status: 200, type: 'application/json', body: '[1, "two"]' });
      const lam = await get('lambda');
      expect(lam).toMatchObject({ status: 201, body: 'made' });
      expect(lam.res.headers.get('x-a')).toBe('b');
      expect(await get('bytes')).toMatchObject({ status: 202, body: '\x00\x01' });
      expect(await get('none')).toMatchObject({ status: 200, body: '' });
      expect(await get('async')).toMatchObject({ status: 200, body: '{"async": true}' });
      const ctx = JSON.parse((await get('context', { headers: { 'thaw-request-id': 'req-1' } })).body);
      // The id is the runner's own: a caller's header does not set it.
      expect(ctx.name).toBe('function');
      expect(ctx.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(ctx.left).toBeGreaterThan(4000);
      expect(ctx.left).toBeLessThanOrEqual(5000);
      // A dict with a "headers" key but no status or body is data, not a response.
      const echo = await get('echo', { method: 'PUT', body: 'über', headers: { 'x-in': 'y' } });
      expect(JSON.parse(echo.body), echo.body).toEqual({
        echo: 'über',
        headers: 'y',
        query: { kind: 'echo' },
      });
    } finally {
      r.proc.kill();
    }
  });

  it('exits with the traceback when handler.py fails to import or has no handler', async () => {
    for (const [source, message] of [
      ['import nosuchmodule\n', "ModuleNotFoundError: No module named 'nosuchmodule'"],
      ['def other(event, context):\n    return 1\n', 'defines no handler(event, context) function'],
    ]) {
      const r = await hostRunner(source ?? '');
      try {
        await new Promise((done) => (r.proc.exitCode === null ? r.proc.on('exit', done) : done(null)));
        expect(r.proc.exitCode).toBe(1);
        expect(r.log()).toContain(message);
      } finally {
        r.proc.kill(); // a runner that served instead of exiting must not outlive the test
      }
    }
  });
});
