import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createThawClient,
  deleteFunction,
  deployFunction,
  type Platform,
  type Service,
  startPlatform,
  startRegistry,
  unwrap,
  uploadImage,
  workerEnvFor,
} from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { buildTestImage } from '@thaw/runtime/testimages';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNothingLeft } from './leftovers.js';

const rt = scratchRuntimeOptions('e2e');
let platform: Platform;
let digest: string;
let registry: Service;

beforeAll(async () => {
  platform = await startPlatform({
    gatewayPort: 0,
    prefix: `e2e${process.pid}`,
    logs: 'buffer',
    // Its registry is on this host, an address workers refuse by default.
    workerEnv: { ...workerEnvFor(rt), THAW_REGISTRY_PRIVATE: 'allow' },
  });
  const image = await buildTestImage('node-hello', 'docker-archive', join(rt.stateDir, 'archives'));
  ({ digest } = await uploadImage(platform.gatewayUrl, image.path, platform.token));
  registry = await startRegistry();
  const host = new URL(registry.url).host;
  execFileSync('skopeo', [
    'copy',
    '--dest-tls-verify=false',
    `docker-archive:${image.path}`,
    `docker://${host}/team/hello:1`,
  ]);
}, 180_000);

afterAll(async () => {
  await platform?.close();
  await registry?.close();
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
});

async function call(
  path: string,
  init?: RequestInit,
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await platform.fetch(`${platform.gatewayUrl}${path}`, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body, headers: res.headers };
}

/** Polls the function until it is no longer pulling. */
async function settled(name: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { body } = await call(`/v1/functions/${name}`);
    const fn = body as Record<string, unknown>;
    if (fn.status !== 'pulling' || Date.now() > deadline) return fn;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('end to end: upload → deploy → invoke → delete', () => {
  it('serves an invocation through the gateway, NATS, the worker and a thawed container', async () => {
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const fn = await deployFunction(
      platform.gatewayUrl,
      {
        name: 'hello',
        image: digest,
        env: { GREETING: 'bonjour' },
        // Room for a replacement instance to start on a loaded machine (the crash test waits for one).
        timeoutMs: 3000,
      },
      platform.token,
    );
    expect(fn.name).toBe('hello');

    const body = Buffer.alloc(100_000, 7);
    const res = await call('/fn/hello/some/path?a=1&b=two', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/octet-stream', 'x-trace': 'abc' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      method: 'POST',
      path: '/some/path',
      query: { a: '1', b: 'two' },
      bodyLength: 100_000,
      headers: { 'content-type': 'application/octet-stream', 'x-trace': 'abc' },
    });
    expect(res.headers.get('content-type')).toMatch(/json/);

    const env = await call('/fn/hello/env');
    expect((env.body as Record<string, string>).GREETING).toBe('bonjour');

    // A 6 MiB body is the documented limit and goes through whole.
    const big = await call('/fn/hello/', { method: 'PUT', body: Buffer.alloc(6 * 1024 * 1024 - 1024, 1) });
    expect(big.status).toBe(200);
    expect((big.body as { bodyLength: number }).bodyLength).toBe(6 * 1024 * 1024 - 1024);
  }, 60_000);

  it('answers 504 FUNCTION_TIMEOUT past the function timeout', async () => {
    const res = await call('/fn/hello/sleep?ms=6000');
    expect(res.status).toBe(504);
    expect(res.body).toMatchObject({ error: { code: 'FUNCTION_TIMEOUT' } });
  }, 30_000);

  it('answers 502 FUNCTION_CRASHED when the process exits, and replaces the instance', async () => {
    const res = await call('/fn/hello/crash');
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ error: { code: 'FUNCTION_CRASHED' } });
    const next = await call('/fn/hello/after-crash');
    expect(next.status).toBe(200);
    expect(next.body).toMatchObject({ path: '/after-crash' });
  }, 30_000);

  it('deploys from a registry reference: pulling, then ready, then serving', async () => {
    const ref = `${new URL(registry.url).host}/team/hello:1`;
    const res = await call('/v1/functions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'fromreg', image: ref }),
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'pulling', image: ref });
    const fn = await settled('fromreg');
    expect(fn).toMatchObject({ status: 'ready', imageDigest: expect.stringMatching(/^sha256:/) });
    const hello = await call('/fn/fromreg/pulled?x=1');
    expect(hello.status).toBe(200);
    expect(hello.body).toMatchObject({ path: '/pulled', query: { x: '1' } });
    await deleteFunction(platform.gatewayUrl, 'fromreg', platform.token);
  }, 60_000);

  it('marks a function whose registry image does not exist failed, with the reason', async () => {
    const ref = `${new URL(registry.url).host}/team/hello:missing`;
    await call('/v1/functions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'badreg', image: ref }),
    });
    expect(await settled('badreg')).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/not-found/),
    });
    const res = await call('/fn/badreg/');
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ error: { code: 'IMAGE_PULL_FAILED' } });
    await deleteFunction(platform.gatewayUrl, 'badreg', platform.token);
  }, 60_000);

  it('updates a function under steady load without failing a request: a new revision replaces the old', async () => {
    let stop = false;
    const statuses: number[] = [];
    const greetings = new Set<string>();
    const clients = Array.from({ length: 6 }, async () => {
      while (!stop) {
        const res = await call('/fn/hello/env');
        statuses.push(res.status);
        if (res.status === 200) greetings.add((res.body as Record<string, string>).GREETING ?? '');
      }
    });
    await new Promise((r) => setTimeout(r, 500));
    const updated = await call('/v1/functions/hello', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ image: digest, env: { GREETING: 'hallo' }, timeoutMs: 1500 }),
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ name: 'hello', revision: 2, env: { GREETING: 'hallo' } });
    await new Promise((r) => setTimeout(r, 1000));
    stop = true;
    await Promise.all(clients);
    expect(statuses.length).toBeGreaterThan(100);
    expect(statuses.filter((st) => st !== 200)).toEqual([]);
    expect([...greetings].sort()).toEqual(['bonjour', 'hallo']);
    // After the update every call is served by the new revision, and the old instances go.
    const after = await call('/fn/hello/env');
    expect((after.body as Record<string, string>).GREETING).toBe('hallo');
    const deadline = Date.now() + 10_000;
    let revisions: number[] = [];
    while (Date.now() < deadline) {
      const fn = (await call('/v1/functions/hello')).body as {
        workers: { instances: { revision: number }[] }[];
      };
      revisions = fn.workers.flatMap((w) => w.instances.map((i) => i.revision));
      if (revisions.length > 0 && revisions.every((r) => r === 2)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(revisions.length).toBeGreaterThan(0);
    expect(revisions.filter((r) => r !== 2)).toEqual([]);
  }, 30_000);

  it('keeps every instance stdout and stderr, and follows new lines', async () => {
    const tag = `t${Date.now()}`;
    expect((await call(`/fn/hello/log?msg=${tag}-out`)).status).toBe(200);
    expect((await call(`/fn/hello/log?msg=${tag}-err&stream=stderr`)).status).toBe(200);
    const deadline = Date.now() + 5000;
    let text = '';
    while (Date.now() < deadline) {
      text = (await call('/v1/functions/hello/logs?since=1m')).body as string;
      if (text.includes(`${tag}-err`)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(text).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\S+ [0-9a-f]{12} stdout: ${tag}-out$`, 'm'));
    expect(text).toMatch(new RegExp(`stderr: ${tag}-err$`, 'm'));
    const asJson = (await call('/v1/functions/hello/logs?format=json&limit=5')).body as string;
    expect(asJson).toContain(`"line":"${tag}-err"`);

    // follow=1: the answer stays open and new lines arrive as they are written.
    const abort = new AbortController();
    const res = await platform.fetch(`${platform.gatewayUrl}/v1/functions/hello/logs?since=1s&follow=1`, {
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body?.getReader();
    if (!reader) throw new Error('no body');
    await call(`/fn/hello/log?msg=${tag}-live`);
    let streamed = '';
    const until = Date.now() + 5000;
    while (!streamed.includes(`${tag}-live`) && Date.now() < until) {
      const next = await Promise.race([
        reader.read(),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), until - Date.now())),
      ]);
      if (!next || next.done) break;
      streamed += Buffer.from(next.value).toString();
    }
    abort.abort();
    expect(streamed).toMatch(new RegExp(`stdout: ${tag}-live$`, 'm'));

    const bad = await call('/v1/functions/hello/logs?since=yesterday');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({
      error: { code: 'VALIDATION_FAILED', message: expect.stringMatching(/^since:/) },
    });
    expect((await call('/v1/functions/nosuch/logs')).status).toBe(404);
  }, 30_000);

  it('functions with invokeAuth "token" take their own token or the admin token, which never reach the code', async () => {
    const created = await deployFunction(
      platform.gatewayUrl,
      { name: 'secret', image: digest, invokeAuth: 'token' },
      platform.token,
    );
    const token = created.invokeToken ?? '';
    expect(token).toMatch(/^thaw_[\w-]{40,}$/);
    const invoke = (authorization?: string) =>
      fetch(`${platform.gatewayUrl}/fn/secret/who`, { headers: authorization ? { authorization } : {} });
    for (const bad of [undefined, 'Bearer nope', `Bearer ${token}x`]) {
      const res = await invoke(bad);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    }
    for (const good of [token, platform.token]) {
      const res = await invoke(`Bearer ${good}`);
      expect(res.status).toBe(200);
      const echo = (await res.json()) as { headers: Record<string, string> };
      expect(echo.headers.authorization).toBeUndefined();
    }
    expect((await fetch(`${platform.gatewayUrl}/async/secret/x`, { method: 'POST' })).status).toBe(401);
    const shown = JSON.stringify(
      await (await platform.fetch(`${platform.gatewayUrl}/v1/functions/secret`)).json(),
    );
    expect(shown).not.toContain('invokeToken');
    // A public function's Authorization header is the function's own business: it is passed on.
    const pub = await fetch(`${platform.gatewayUrl}/fn/hello/who`, {
      headers: { authorization: 'Bearer user-abc' },
    });
    expect(((await pub.json()) as { headers: Record<string, string> }).headers.authorization).toBe(
      'Bearer user-abc',
    );
    // ...except the admin token, which no function ever sees.
    const admin = await fetch(`${platform.gatewayUrl}/fn/hello/who`, {
      headers: { authorization: `Bearer ${platform.token}` },
    });
    expect(
      ((await admin.json()) as { headers: Record<string, string> }).headers.authorization,
    ).toBeUndefined();
    await deleteFunction(platform.gatewayUrl, 'secret', platform.token);
  }, 30_000);

  it('two gateways share nothing but NATS and Redis: a change through one is served through the other at once', async () => {
    const b = await platform.addGateway();
    // Changes through the first gateway, reads and calls through the second.
    const viaA = platform.api;
    const viaB = createThawClient({ baseUrl: b, token: platform.token });
    const twin = { params: { path: { name: 'twin' } } };
    const envOf = async (url: string) => {
      const res = await platform.fetch(`${url}/fn/twin/env`);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const created = await viaA.POST('/v1/functions', {
      body: { name: 'twin', image: digest, env: { V: 'one' } },
    });
    expect(created.response.status).toBe(201);
    expect((await envOf(b)).body.V).toBe('one');
    const updated = await viaA.PUT('/v1/functions/{name}', {
      ...twin,
      body: { image: digest, env: { V: 'two' } },
    });
    expect(updated.response.status).toBe(200);
    expect((await envOf(b)).body.V).toBe('two');
    expect(unwrap(await viaB.GET('/v1/functions/{name}', twin)).revision).toBe(2);
    expect((await viaA.DELETE('/v1/functions/{name}', twin)).response.status).toBe(204);
    const gone = await envOf(b);
    expect(gone.status).toBe(404);
    expect(gone.body).toMatchObject({ error: { code: 'FUNCTION_NOT_FOUND' } });
  }, 30_000);

  it('refuses bad updates with a clear error and leaves the function as it was', async () => {
    const put = (name: string, body: unknown) =>
      call(`/v1/functions/${name}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await put('nosuch', { image: digest })).body).toMatchObject({
      error: { code: 'FUNCTION_NOT_FOUND' },
    });
    const renamed = await put('hello', { name: 'other', image: digest });
    expect(renamed.status).toBe(400);
    expect(renamed.body).toMatchObject({
      error: { code: 'VALIDATION_FAILED', message: expect.stringMatching(/^name:/) },
    });
    const missing = await put('hello', { image: `sha256:${'0'.repeat(64)}` });
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: { code: 'IMAGE_NOT_FOUND' } });
    const bad = await put('hello', { image: digest, memoryMiB: 1 });
    expect(bad.body).toMatchObject({
      error: { code: 'VALIDATION_FAILED', message: expect.stringMatching(/^memoryMiB:/) },
    });
    expect((await call('/v1/functions/hello')).body).toMatchObject({
      revision: 2,
      env: { GREETING: 'hallo' },
    });
  }, 30_000);

  it('exposes Prometheus metrics on the gateway and the worker that promtool accepts', async () => {
    await call('/fn/hello/for-metrics');
    await call('/fn/nosuchfn/');
    const promtool = join(fileURLToPath(new URL('../../../', import.meta.url)), '.cache/bin/promtool');
    const scrape = async (url: string) => {
      const res = await platform.fetch(url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      // promtool exits non-zero on any problem; lint problems (naming, help, units) included.
      execFileSync(promtool, ['check', 'metrics'], { input: text });
      return text;
    };
    const gw = await scrape(`${platform.gatewayUrl}/metrics`);
    expect(gw).toMatch(/thaw_gateway_invocations_total\{function="hello",status="200",code=""\} [1-9]/);
    expect(gw).toMatch(
      /thaw_gateway_invocations_total\{function="\(unknown\)",status="404",code="FUNCTION_NOT_FOUND"\} 1/,
    );
    expect(gw).toMatch(/thaw_gateway_invocation_duration_seconds_count\{function="hello"\} [1-9]/);
    expect(gw).toMatch(/thaw_gateway_workers\{state="serving"\} 1/);
    const metricsUrl = platform.workerMetricsUrl;
    if (!metricsUrl) throw new Error('the worker reported no metrics URL');
    const wk = await scrape(metricsUrl);
    expect(wk).toMatch(/thaw_worker_invocations_total\{function="hello",outcome="200"\} [1-9]/);
    expect(wk).toMatch(/thaw_worker_invocations_total\{function="hello",outcome="FUNCTION_CRASHED"\} 1/);
    expect(wk).toMatch(
      /thaw_worker_instance_starts_total\{function="hello",reason="minimum",result="ok"\} [1-9]/,
    );
    expect(wk).toMatch(/thaw_worker_instance_start_duration_seconds_count\{function="hello"\} [1-9]/);
    expect(wk).toMatch(/thaw_worker_thaw_duration_seconds_count [1-9]/);
    expect(wk).toMatch(/thaw_worker_freeze_duration_seconds_count [1-9]/);
    expect(wk).toMatch(/thaw_worker_instances\{function="hello",state="(running|frozen)"\} [1-9]/);
    expect(wk).toMatch(/thaw_worker_queue_depth\{function="hello"\} 0/);
    expect(wk).toMatch(/thaw_worker_memory_committed_bytes [1-9]/);
  }, 30_000);

  it('deletes the function: 404 afterwards and its containers are gone', async () => {
    await deleteFunction(platform.gatewayUrl, 'hello', platform.token);
    const res = await call('/fn/hello/');
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ error: { code: 'FUNCTION_NOT_FOUND' } });
    const deadline = Date.now() + 10_000;
    let bundles: string[] = [];
    while (Date.now() < deadline) {
      const { readdir } = await import('node:fs/promises');
      bundles = await readdir(join(rt.stateDir, 'containers')).catch(() => []);
      if (bundles.length === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(bundles).toEqual([]);
  }, 30_000);

  it('leaves nothing on the host once the platform stops', async () => {
    await platform.close();
    await expectNothingLeft(rt);
  }, 90_000);
});
