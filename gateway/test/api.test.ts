import { IMAGE_BUCKET } from '@thaw/shared';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { Redis } from 'ioredis';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ADMIN as ADMIN, openTestApp, type TestApp } from './test-app.js';

const digest = `sha256:${'a'.repeat(64)}`;
let t: TestApp;
let prefix: string;
let nc: NatsConnection;
let redis: Redis;
let app: FastifyInstance;
/** A request with the admin token (unless the test sets its own authorization). */
const inject = (o: InjectOptions) => t.inject(o);

beforeAll(async () => {
  t = await openTestApp({ tag: 'gw' });
  ({ app, nc, redis, prefix } = t);
  // An image as if uploaded earlier; no worker runs in this file, so placement fails (and is retried on invoke).
  await redis.hset(
    `${prefix}:images`,
    digest,
    JSON.stringify({ digest, object: 'upload-x', size: 1, uploadedAt: new Date().toISOString() }),
  );
});

afterAll(() => t?.close());

describe('gateway API', () => {
  it('needs the admin token on /v1/*, compared whole, and not on health, metrics or the API description', async () => {
    for (const authorization of [
      undefined,
      'Bearer wrong-token',
      `Bearer ${ADMIN}x`,
      ADMIN,
      `Basic ${ADMIN}`,
    ]) {
      const res = await app.inject({
        method: 'GET',
        url: '/v1/functions',
        headers: authorization ? { authorization } : {},
      });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
      expect(res.headers['x-thaw-error']).toBe('UNAUTHORIZED');
    }
    expect((await inject({ method: 'GET', url: '/v1/functions' })).statusCode).toBe(200);
    // The router decodes the path: an encoded "/v1/" is still the admin API.
    for (const url of ['/%761/functions', '/v%31/workers', '/%76%31/functions']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(401);
    }
    for (const url of ['/healthz', '/metrics', '/openapi.json']) {
      expect((await app.inject({ method: 'GET', url })).statusCode).toBe(200);
    }
  });

  it('reports health', async () => {
    const res = await inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ ok: true });
  });

  it('serves an OpenAPI 3.1 document generated from the request schemas', async () => {
    const res = await inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json() as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, { properties?: Record<string, Record<string, unknown>> }> };
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/images',
        '/v1/functions',
        '/v1/functions/{name}',
        '/v1/workers',
        '/fn/{name}/{path}',
      ]),
    );
    expect(Object.keys(doc.paths['/v1/functions/{name}'] ?? {})).toEqual(
      expect.arrayContaining(['get', 'put', 'delete']),
    );
    // The limits are the validator's own.
    expect(doc.components.schemas.FunctionSpec?.properties?.memoryMiB).toMatchObject({
      type: 'integer',
      minimum: 16,
      maximum: 16384,
      default: 128,
    });
    expect(doc.components.schemas.FunctionSpec?.properties?.name).toMatchObject({
      pattern: '^[a-z][a-z0-9-]{0,47}$',
    });
    const errorSchema = doc.components.schemas.Error?.properties?.error as
      | { properties: { code: { enum: string[] } } }
      | undefined;
    const codes = errorSchema?.properties.code.enum ?? [];
    expect(codes).toContain('WORKER_LOST');
    expect(codes).toContain('UPDATE_CONFLICT');
  });

  it('names the invalid field', async () => {
    const res = await inject({
      method: 'POST',
      url: '/v1/functions',
      payload: { name: 'Bad_Name', image: digest },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      error: { code: 'VALIDATION_FAILED', message: expect.stringMatching(/^name: /) },
    });
    const mem = await inject({
      method: 'POST',
      url: '/v1/functions',
      payload: { name: 'ok', image: digest, memoryMiB: 1 },
    });
    expect(mem.json().error.message).toMatch(/^memoryMiB: /);
  });

  it('rejects bad JSON and unknown fields', async () => {
    const res = await inject({
      method: 'POST',
      url: '/v1/functions',
      headers: { 'content-type': 'application/json' },
      payload: '{"name":',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('INVALID_JSON');
    const extra = await inject({
      method: 'POST',
      url: '/v1/functions',
      payload: { name: 'x', image: digest, cpu: 9 },
    });
    expect(extra.json().error.code).toBe('VALIDATION_FAILED');
  });

  it('takes registry references as pulling, and refuses unknown digests and other strings', async () => {
    const reg = await inject({
      method: 'POST',
      url: '/v1/functions',
      payload: { name: 'reg', image: 'localhost:5000/team/fn:1.2' },
    });
    expect(reg.statusCode).toBe(202);
    expect(reg.json()).toMatchObject({ name: 'reg', status: 'pulling' });
    // No worker runs in this file: the pull cannot happen, and the record says so.
    let fn = reg.json();
    const deadline = Date.now() + 10_000;
    while (fn.status === 'pulling' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      fn = (await inject({ method: 'GET', url: '/v1/functions/reg' })).json();
    }
    expect(fn).toMatchObject({ status: 'failed', reason: expect.stringMatching(/no worker/) });
    const inv = await inject({ method: 'GET', url: '/fn/reg/' });
    expect(inv.statusCode).toBe(502);
    expect(inv.json().error.code).toBe('IMAGE_PULL_FAILED');

    const missing = await inject({
      method: 'POST',
      url: '/v1/functions',
      payload: { name: 'missing', image: `sha256:${'b'.repeat(64)}` },
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('IMAGE_NOT_FOUND');
    expect((await inject({ method: 'GET', url: '/v1/functions/missing' })).statusCode).toBe(404);
    const neither = await inject({
      method: 'POST',
      url: '/v1/functions',
      payload: { name: 'x', image: 'team/fn' },
    });
    expect(neither.statusCode).toBe(400);
    expect(neither.json().error.message).toMatch(/^image: /);
  });

  it('creates, lists, gets, refuses a duplicate and deletes a function', async () => {
    const created = await inject({
      method: 'POST',
      url: '/v1/functions',
      payload: { name: 'fn-a', image: digest },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({
      name: 'fn-a',
      image: digest,
      memoryMiB: 128,
      timeoutMs: 30_000,
      port: 8080,
    });
    const dup = await inject({
      method: 'POST',
      url: '/v1/functions',
      payload: { name: 'fn-a', image: digest },
    });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.code).toBe('FUNCTION_EXISTS');
    const list = await inject({ method: 'GET', url: '/v1/functions' });
    expect(list.json().functions.map((f: { name: string }) => f.name)).toContain('fn-a');
    expect((await inject({ method: 'GET', url: '/v1/functions/fn-a' })).json().name).toBe('fn-a');

    const removed = new Promise<string>((resolve) => {
      const sub = nc.subscribe(`${prefix}.functions.removed`, {
        max: 1,
        callback: (_e, m) => {
          resolve(new TextDecoder().decode(m.data));
          sub.unsubscribe();
        },
      });
    });
    await nc.flush();
    const del = await inject({ method: 'DELETE', url: '/v1/functions/fn-a' });
    expect(del.statusCode).toBe(204);
    expect(JSON.parse(await removed)).toEqual({ name: 'fn-a' });
    const gone = await inject({ method: 'GET', url: '/v1/functions/fn-a' });
    expect(gone.statusCode).toBe(404);
    expect(gone.json().error.code).toBe('FUNCTION_NOT_FOUND');
    const inv = await inject({ method: 'GET', url: '/fn/fn-a/' });
    expect(inv.json().error.code).toBe('FUNCTION_NOT_FOUND');
  });

  it('lets one of several concurrent updates land; the others answer 409 UPDATE_CONFLICT', async () => {
    await inject({ method: 'POST', url: '/v1/functions', payload: { name: 'racy', image: digest } });
    const put = (greeting: string) =>
      inject({
        method: 'PUT',
        url: '/v1/functions/racy',
        payload: { image: digest, env: { GREETING: greeting } },
      });
    const answers = await Promise.all(['a', 'b', 'c', 'd'].map(put));
    const landed = answers.filter((a) => a.statusCode === 200).map((a) => a.json());
    const refused = answers.filter((a) => a.statusCode === 409);
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 409, 409, 409]);
    for (const r of refused) expect(r.json()).toMatchObject({ error: { code: 'UPDATE_CONFLICT' } });
    for (const r of refused) expect(r.headers['x-thaw-error']).toBe('UPDATE_CONFLICT');
    expect(landed[0]).toMatchObject({ revision: 2 });
    // What is stored is the one that landed.
    const stored = (await inject({ method: 'GET', url: '/v1/functions/racy' })).json();
    expect(stored).toMatchObject({ revision: 2, env: landed[0].env });
    // The conflict does not outlive the update that caused it; nor does a failed update's.
    expect((await put('e')).statusCode).toBe(200);
    const failed = await inject({
      method: 'PUT',
      url: '/v1/functions/racy',
      payload: { image: `sha256:${'c'.repeat(64)}` },
    });
    expect(failed.json()).toMatchObject({ error: { code: 'IMAGE_NOT_FOUND' } });
    expect((await put('f')).json()).toMatchObject({ revision: 4, env: { GREETING: 'f' } });
  });

  it('answers NO_WORKER when no worker can take an invocation', async () => {
    await inject({ method: 'POST', url: '/v1/functions', payload: { name: 'lonely', image: digest } });
    const res = await inject({ method: 'GET', url: '/fn/lonely/x' });
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('NO_WORKER');
  });

  it('refuses an invocation body over the limit with 413', async () => {
    const res = await inject({
      method: 'POST',
      url: '/fn/lonely/x',
      headers: { 'content-type': 'application/octet-stream' },
      payload: Buffer.alloc(65 * 1024),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses images over the limit and other content types, keeping nothing', async () => {
    const big = await inject({
      method: 'POST',
      url: '/v1/images',
      headers: { 'content-type': 'application/x-tar' },
      payload: Buffer.alloc(2 * 1024 * 1024),
    });
    expect(big.statusCode).toBe(413);
    expect(big.json().error.code).toBe('PAYLOAD_TOO_LARGE');
    const json = await inject({ method: 'POST', url: '/v1/images', payload: { a: 1 } });
    expect(json.statusCode).toBe(415);
    expect(json.json().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    // No worker here to import: the upload is refused and its object removed from the store.
    const orphan = await inject({
      method: 'POST',
      url: '/v1/images',
      headers: { 'content-type': 'application/x-tar' },
      payload: Buffer.alloc(1000),
    });
    expect(orphan.json().error.code).toBe('NO_WORKER');
    const os = await nc.jetstream().views.os(IMAGE_BUCKET);
    const objects = (await os.list()).filter((o) => !o.deleted);
    expect(objects).toEqual([]);
    // Nor a record: the only image known is the one this file put there itself.
    expect(Object.keys(await redis.hgetall(`${prefix}:images`))).toEqual([digest]);
  });

  it('answers unknown routes with ROUTE_NOT_FOUND', async () => {
    const res = await inject({ method: 'GET', url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: { code: 'ROUTE_NOT_FOUND', message: 'no route GET /nope' } });
  });
});

describe('parseSince', () => {
  it('takes ISO times and durations back from now, and names the field otherwise', async () => {
    const { parseSince } = await import('../src/http/logs.js');
    const now = Date.parse('2026-11-25T12:00:00Z');
    expect(parseSince(undefined, now)).toBe(0);
    expect(parseSince('30s', now)).toBe(now - 30_000);
    expect(parseSince('5m', now)).toBe(now - 300_000);
    expect(parseSince('2h', now)).toBe(now - 7_200_000);
    expect(parseSince('1d', now)).toBe(now - 86_400_000);
    expect(parseSince('2026-11-25T11:00:00Z', now)).toBe(now - 3_600_000);
    expect(() => parseSince('yesterday', now)).toThrow(/^since:/);
    expect(() => parseSince('5 minutes', now)).toThrow(/^since:/);
  });
});

describe('callbackRefusal', () => {
  it('refuses callbacks to loopback, private, link-local and metadata addresses unless allowed', async () => {
    const { callbackRefusal } = await import('../src/async/callback.js');
    for (const url of [
      'http://127.0.0.1:9/x',
      'http://localhost/x',
      'http://10.1.2.3/x',
      'http://172.20.0.1/x',
      'http://192.168.1.1/x',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/x',
      'http://[::ffff:127.0.0.1]/x',
      'http://[fd00::1]/x',
    ]) {
      expect(await callbackRefusal(url, false), url).toMatch(/private, loopback or link-local/);
      expect(await callbackRefusal(url, true), url).toBeUndefined();
    }
    expect(await callbackRefusal('http://93.184.216.34/hook', false)).toBeUndefined();
  });
});
