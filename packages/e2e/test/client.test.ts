import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
// A worker runs because the gateway hands uploaded images to one; no function is ever called.
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createThawClient,
  invoke,
  isThawApiError,
  ThawApiError,
  type ThawClient,
  ThawUnreachableError,
  thawError,
  unwrap,
  uploadImage,
} from '@thaw/client';
import { type Platform, startPlatform, workerEnvFor } from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { writeImageArchive } from '@thaw/runtime/build';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const rt = scratchRuntimeOptions('client');
let platform: Platform;
let dir: string;
/** Every request the clients sent: method, URL and Authorization header. */
const sent: { method: string; url: string; auth: string | null }[] = [];
const recording: typeof fetch = (input, init) => {
  const req = input instanceof Request ? input : new Request(input, init);
  sent.push({ method: req.method, url: req.url, auth: req.headers.get('authorization') });
  return fetch(input, init);
};
let admin: ThawClient;
const WORKER_WAIT_MS = 30_000;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'thaw-client-'));
  platform = await startPlatform({
    gatewayPort: 0,
    prefix: `cl${process.pid}`,
    logs: 'buffer',
    workerEnv: workerEnvFor(rt),
  });
  admin = createThawClient({ baseUrl: `${platform.gatewayUrl}/`, token: platform.token, fetch: recording });
  // Uploads go to a worker: wait until the gateway has heard the worker's first heartbeat.
  const deadline = Date.now() + WORKER_WAIT_MS;
  while (unwrap(await admin.GET('/v1/workers')).workers.length === 0) {
    if (Date.now() > deadline) throw new Error(`no worker heartbeat within ${WORKER_WAIT_MS} ms`);
    await sleep(100);
  }
}, 120_000);

afterAll(async () => {
  await platform?.close();
  await rm(dir, { recursive: true, force: true });
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
});

/** A port nothing listens on: one the kernel gave out and took back. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

describe('the generated client against a real gateway', () => {
  it('sends the admin token to /v1 and reads typed answers', async () => {
    sent.length = 0;
    const { functions } = unwrap(await admin.GET('/v1/functions'));
    expect(functions).toEqual([]);
    expect(sent).toEqual([
      { method: 'GET', url: `${platform.gatewayUrl}/v1/functions`, auth: `Bearer ${platform.token}` },
    ]);
  });

  it('maps error answers to the catalogue code and message', async () => {
    const anonymous = createThawClient({ baseUrl: platform.gatewayUrl });
    const denied = await anonymous
      .GET('/v1/functions')
      .then(unwrap)
      .catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(ThawApiError);
    expect(denied).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });

    const missing = await admin
      .GET('/v1/functions/{name}', { params: { path: { name: 'nothere' } } })
      .then(unwrap)
      .catch((e: unknown) => e);
    expect(isThawApiError(missing) && missing.code).toBe('FUNCTION_NOT_FOUND');
    expect((missing as ThawApiError).detail).toContain('nothere');

    const invalid = await admin
      .POST('/v1/functions', { body: { name: 'Bad Name!', image: 'x' } })
      .then(unwrap)
      .catch((e: unknown) => e);
    expect(invalid).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
  });

  it('streams an image archive, then creates, reads and deletes a function with it', async () => {
    const { path } = await writeImageArchive(
      {
        layers: [{ entries: [{ path: 'hello.txt', type: 'file', mode: 0o644, content: 'hi\n' }] }],
        config: { Cmd: ['/hello.txt'] },
      },
      'oci',
      join(dir, 'image.tar'),
    );
    let seen = 0;
    const counting = new Transform({
      transform(chunk: Buffer, _enc, done) {
        seen += chunk.length;
        done(null, chunk);
      },
    });
    const uploaded = await uploadImage(admin, { path, through: (s) => s.pipe(counting) });
    expect(uploaded.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(seen).toBe(uploaded.size);

    const name = `cl${process.pid}`;
    const created = unwrap(
      await admin.POST('/v1/functions', { body: { name, image: uploaded.digest, invokeAuth: 'token' } }),
    );
    expect(created).toMatchObject({ name, revision: 1, invokeAuth: 'token' });
    expect(created.invokeToken).toMatch(/^thaw_[\w-]{20,}$/);
    const view = unwrap(await admin.GET('/v1/functions/{name}', { params: { path: { name } } }));
    expect(view.imageDigest ?? view.image).toContain(uploaded.digest.slice(7, 19));
    unwrap(await admin.DELETE('/v1/functions/{name}', { params: { path: { name } } }));
    const gone = await admin.GET('/v1/functions/{name}', { params: { path: { name } } });
    expect(gone.response.status).toBe(404);
  });

  it('rejects an archive that is no image with IMAGE_INVALID', async () => {
    const junk = join(dir, 'junk.tar');
    writeFileSync(junk, Buffer.alloc(2048, 7));
    await expect(uploadImage(admin, { path: junk })).rejects.toMatchObject({
      status: 400,
      code: 'IMAGE_INVALID',
    });
  });

  it('invokes with any method, path and query, never sending the admin token to a function', async () => {
    sent.length = 0;
    const res = await invoke(admin, {
      name: 'nofn',
      path: '/a/b c/?x=1&y=%2F',
      method: 'PROPFIND',
      body: 'x',
    });
    expect(res.status).toBe(404);
    // The body is the caller's to read: thaw's message names the function.
    expect(await thawError(res)).toMatchObject({
      code: 'FUNCTION_NOT_FOUND',
      detail: expect.stringContaining('nofn'),
    });
    const queued = await invoke(admin, { name: 'nofn', async: true, invokeToken: 'fn-token' });
    expect(queued.status).toBe(404);
    expect(sent).toEqual([
      { method: 'PROPFIND', url: `${platform.gatewayUrl}/fn/nofn/a/b%20c/?x=1&y=%2F`, auth: null },
      { method: 'GET', url: `${platform.gatewayUrl}/async/nofn`, auth: 'Bearer fn-token' },
    ]);
    // A function's own answer carries no x-thaw-error: it is not thaw's error.
    expect(await thawError(new Response('no', { status: 500 }))).toBeUndefined();
  });

  it('names the gateway it cannot reach', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const away = createThawClient({ baseUrl: url, token: 't' });
    const err = await away.GET('/v1/functions').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ThawUnreachableError);
    expect((err as Error).message).toMatch(
      new RegExp(`cannot reach the gateway at ${url} \\(.*ECONNREFUSED`),
    );
  });
});
