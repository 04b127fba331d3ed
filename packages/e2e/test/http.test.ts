import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  deployFunction,
  type Platform,
  startPlatform,
  unwrap,
  uploadImage,
  workerEnvFor,
} from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { buildTestImage } from '@thaw/runtime/testimages';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// HTTP semantics on the invoke path, as plain clients (curl, raw HTTP) exercise them.

const run = promisify(execFile);
const rt = scratchRuntimeOptions('htp');
let platform: Platform;

beforeAll(async () => {
  platform = await startPlatform({
    gatewayPort: 0,
    prefix: `htp${process.pid}`,
    logs: 'buffer',
    workerEnv: workerEnvFor(rt),
  });
  const image = await buildTestImage('node-hello', 'docker-archive', join(rt.stateDir, 'archives'));
  const { digest } = await uploadImage(platform.gatewayUrl, image.path, platform.token);
  await deployFunction(
    platform.gatewayUrl,
    { name: 'echo', image: digest, asyncAttempts: 1 },
    platform.token,
  );
}, 180_000);

afterAll(async () => {
  await platform?.close();
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
});

interface Echo {
  method: string;
  path: string;
  headers: Record<string, string>;
  bodyLength: number;
}

/** One raw HTTP/1.1 request: the request target is sent exactly as given. */
async function raw(method: string, target: string, headers: Record<string, string> = {}) {
  const gw = new URL(platform.gatewayUrl);
  return await new Promise<{ status: number; headers: Record<string, unknown>; text: string }>(
    (resolve, reject) => {
      const req = request({ host: gw.hostname, port: gw.port, method, path: target, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      });
      req.on('error', reject);
      req.end();
    },
  );
}

describe('HTTP semantics of the invoke path', () => {
  it('a curl POST of 2 MiB (curl sends Expect: 100-continue) reaches the function whole, sync and async', async () => {
    const file = join(rt.stateDir, 'two-mib');
    await writeFile(file, Buffer.alloc(2 * 1024 * 1024, 'a'));
    const { stdout } = await run('curl', [
      '-sS',
      '-v',
      '--data-binary',
      `@${file}`,
      '-w',
      '\n%{http_code}',
      `${platform.gatewayUrl}/fn/echo/upload`,
    ]).catch((err: { stdout: string; stderr: string }) => {
      throw new Error(`curl failed: ${err.stderr}`);
    });
    const [body, status] = stdout.split('\n');
    expect(status).toBe('200');
    const echo = JSON.parse(body ?? '') as Echo;
    expect(echo).toMatchObject({ method: 'POST', path: '/upload', bodyLength: 2 * 1024 * 1024 });
    expect(echo.headers.expect).toBeUndefined();

    const { stdout: id } = await run('curl', [
      '-sS',
      '--data-binary',
      `@${file}`,
      '-H',
      'content-type: application/octet-stream',
      `${platform.gatewayUrl}/async/echo/upload`,
    ]);
    const callId = (JSON.parse(id) as { callId: string }).callId;
    let call: { status: string; response?: { status: number; body: string } } = { status: 'queued' };
    const deadline = Date.now() + 30_000;
    while (!['succeeded', 'dead'].includes(call.status) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      call = unwrap(await platform.api.GET('/v1/calls/{callId}', { params: { path: { callId } } }));
    }
    expect(call.status, JSON.stringify(call)).toBe('succeeded');
    expect(call.response?.status).toBe(200);
    const answer = JSON.parse(Buffer.from(call.response?.body ?? '', 'base64').toString()) as Echo;
    expect(answer).toMatchObject({ method: 'POST', path: '/upload', bodyLength: 2 * 1024 * 1024 });
  });

  it('headers named in Connection are not passed to the function; others are', async () => {
    const res = await raw('GET', '/fn/echo/conn', {
      connection: 'keep-alive, x-hop',
      'x-hop': 'secret',
      'x-kept': 'yes',
    });
    expect(res.status).toBe(200);
    const echo = JSON.parse(res.text) as Echo;
    expect(echo.headers['x-kept']).toBe('yes');
    expect(echo.headers['x-hop']).toBeUndefined();
  });

  it('every method reaches the function, WebDAV ones too', async () => {
    for (const method of ['PROPFIND', 'MKCOL', 'REPORT', 'PURGE', 'OPTIONS', 'PATCH', 'DELETE']) {
      const res = await raw(method, '/fn/echo/dav');
      expect({ method, status: res.status }).toEqual({ method, status: 200 });
      expect((JSON.parse(res.text) as Echo).method).toBe(method);
    }
  });

  it('an absolute-form request target answers 400 BAD_REQUEST, not an error that blames the function', async () => {
    const gw = new URL(platform.gatewayUrl);
    const res = await raw('GET', `http://${gw.host}/fn/echo/abs`);
    expect(res.status).toBe(400);
    expect(res.headers['x-thaw-error']).toBe('BAD_REQUEST');
  });
});
