import { createServer } from 'node:http';
import { connect as connectTcp } from 'node:net';
import { type Service, startNats, startRedis } from '@thaw/devkit';
import { ErrorCatalogue, type ErrorCode, FunctionSpec } from '@thaw/shared';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientErrorHandler } from '../src/http/errors.js';
import { exitAfterTerm, type GatewayProcess, startGatewayProcess } from './gateway-process.js';

const ADMIN = 'http-errors-test-admin-token-0123456789';
const prefix = `he${process.pid}`;
const digest = `sha256:${'b'.repeat(64)}`;
let nats: Service;
let redisSrv: Service;
let gateway: GatewayProcess;

beforeAll(async () => {
  [nats, redisSrv] = await Promise.all([startNats(), startRedis()]);
  gateway = await startGatewayProcess({
    NATS_URL: nats.url,
    REDIS_URL: redisSrv.url,
    THAW_PREFIX: prefix,
    THAW_ADMIN_TOKEN: ADMIN,
    PLACE_TIMEOUT_MS: '1000',
  });
  // An image as if uploaded earlier, so that a function can be deployed; no worker runs here.
  const redis = new Redis(redisSrv.url);
  await redis.hset(
    `${prefix}:images`,
    digest,
    JSON.stringify({ digest, object: 'upload-x', size: 1, uploadedAt: new Date().toISOString() }),
  );
  redis.disconnect();
});
afterAll(async () => {
  if (gateway) await exitAfterTerm(gateway.child);
  await Promise.all([nats?.close(), redisSrv?.close()]);
});

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection (within the deadline, after answering). */
  closed: boolean;
}

/**
 * Sends bytes as they are over TCP (no client library would send a malformed request) and
 * reads the first answer. With `untilClose` it then waits for the server to close the
 * connection (`closed` tells whether it did within the deadline).
 */
function raw(
  request: string,
  { port = gateway.port, untilClose = false }: { port?: number; untilClose?: boolean } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let answer: Omit<RawAnswer, 'closed'> | undefined;
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      if (answer) resolve({ ...answer, closed });
      else reject(new Error(`no complete answer (closed: ${closed}): ${JSON.stringify(data.toString())}`));
    };
    const timer = setTimeout(() => finish(false), 10_000);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      answer ??= parse(data);
      if (answer && !untilClose) finish(false);
    });
    // A reset after the answer is a close too: the server may cut a client still sending.
    socket.on('error', () => undefined);
    socket.on('close', () => finish(true));
    socket.write(request);
  });
}

function parse(data: Buffer): Omit<RawAnswer, 'closed'> | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine = '', ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  const body = data.subarray(end + 4);
  if (body.length < length) return undefined;
  return { status: Number(statusLine.split(' ')[1]), headers, body: body.subarray(0, length).toString() };
}

/** The catalogue's shape: status, x-thaw-error, a JSON content type and `{ error: { code, message } }`. */
function expectCatalogue(res: RawAnswer, code: ErrorCode): string {
  expect({ status: res.status, code: res.headers['x-thaw-error'] }, res.body).toEqual({
    status: ErrorCatalogue[code].status,
    code,
  });
  expect(res.headers['content-type']).toMatch(/^application\/json(;|$)/);
  const body = JSON.parse(res.body) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message']);
  expect(body.error.code).toBe(code);
  expect(body.error.message).toEqual(expect.any(String));
  expect(body.error.message.length).toBeGreaterThan(0);
  return body.error.message;
}

const request = (head: string, body = '') =>
  `${head}\r\nHost: gateway\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const admin = `Authorization: Bearer ${ADMIN}`;

describe("errors of Node's and fastify's HTTP layer, in the catalogue's shape", () => {
  it('answers a too long path parameter (a function name in /fn/<name>/) with 414 URI_TOO_LONG', async () => {
    const name = 'a'.repeat(200);
    for (const head of [`GET /fn/${name}/x HTTP/1.1`, `GET /v1/functions/${name} HTTP/1.1\r\n${admin}`]) {
      const message = expectCatalogue(await raw(request(head)), 'URI_TOO_LONG');
      expect(message).toMatch(/100 characters/);
    }
    // The path under a function is its own, however long: only names and ids are bounded.
    const deep = await raw(request(`GET /fn/nothing-here/${'p/'.repeat(2000)} HTTP/1.1`));
    expect(deep.headers['x-thaw-error']).toBe('FUNCTION_NOT_FOUND');
  });

  it('answers too large or too many headers, and a URL beyond the header limit, with 431 HEADERS_TOO_LARGE and closes', async () => {
    const many = Array.from({ length: 2000 }, (_, i) => `X-Header-${i}: value`).join('\r\n');
    for (const req of [
      request(`GET /fn/a/ HTTP/1.1\r\nX-Big: ${'b'.repeat(20_000)}`),
      request(`GET /fn/a/ HTTP/1.1\r\n${many}`),
      request(`GET /fn/a/${'u'.repeat(20_000)} HTTP/1.1`),
    ]) {
      const res = await raw(req, { untilClose: true });
      expectCatalogue(res, 'HEADERS_TOO_LARGE');
      expect(res.headers.connection).toBe('close');
      expect(res.closed).toBe(true);
    }
  });

  it('answers malformed requests with 400 BAD_REQUEST, naming the fault, and closes', async () => {
    for (const [req, fault] of [
      [request('GET /fn/a/ HTTP/1.1\r\nA header without a colon'), /header/i],
      ['HELLO\r\n\r\n', /method/i],
      ['GET /fn/a/ HTTP/1.1\r\nHost: gateway\r\nContent-Length: abc\r\n\r\n', /content-length/i],
    ] as const) {
      const res = await raw(req, { untilClose: true });
      const message = expectCatalogue(res, 'BAD_REQUEST');
      expect(message).toMatch(fault);
      expect(message).not.toBe('Client Error');
      expect(res.closed).toBe(true);
    }
  });

  it('answers a path that does not decode with 400 BAD_REQUEST', async () => {
    for (const head of ['GET /fn/%zz/ HTTP/1.1', `GET /v1/functions/%zz HTTP/1.1\r\n${admin}`]) {
      expect(expectCatalogue(await raw(request(head)), 'BAD_REQUEST')).toMatch(/%zz/);
    }
  });

  it('answers a request whose headers do not arrive in time with 408 REQUEST_TIMEOUT and closes', async () => {
    // The gateway keeps Node's 60 s header timeout (and, as here, no request timeout); a server
    // with our handler and a short one shows the same path (Node's timeout, then our answer).
    const app = Fastify({
      clientErrorHandler,
      serverFactory: (handler) =>
        createServer({ headersTimeout: 300, requestTimeout: 0, connectionsCheckingInterval: 50 }, handler),
    });
    app.get('/', async () => ({ ok: true }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const address = app.server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      // The headers never end: no blank line.
      const res = await raw('GET / HTTP/1.1\r\nHost: gateway\r\n', { port, untilClose: true });
      expectCatalogue(res, 'REQUEST_TIMEOUT');
      expect(res.closed).toBe(true);
    } finally {
      await app.close();
    }
  });
});

describe('bodies of the JSON API', () => {
  const post = (body: string, type = 'application/json') =>
    raw(request(`POST /v1/functions HTTP/1.1\r\n${admin}\r\nContent-Type: ${type}`, body));

  it('refuses text/plain on a JSON endpoint with 415, as other content types', async () => {
    const body = JSON.stringify({ name: 'plain', image: digest });
    for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/xml']) {
      expect(expectCatalogue(await post(body, type), 'UNSUPPORTED_MEDIA_TYPE')).toMatch(
        new RegExp(`"${type}" .*application/json`),
      );
    }
  });

  it('still takes any content type as bytes on the invoke paths', async () => {
    // Refused bodies are answered before the route runs: FUNCTION_NOT_FOUND means the body was taken.
    for (const path of ['/fn/nothing-here/', '/async/nothing-here']) {
      for (const type of ['text/plain', 'application/json', 'application/xml']) {
        const res = await raw(request(`POST ${path} HTTP/1.1\r\nContent-Type: ${type}`, '{"__proto__":1'));
        expect(res.headers['x-thaw-error'], `${path} ${type}`).toBe('FUNCTION_NOT_FOUND');
      }
    }
  });

  it('names a __proto__ key (anywhere) or constructor.prototype as the fault, not the JSON', async () => {
    for (const [body, key] of [
      ['{"name":"p","image":"x","__proto__":{"a":1}}', '__proto__'],
      ['{"name":"p","image":"x","env":{"__proto__":"x"}}', '__proto__'],
      ['{"name":"p","image":"x","env":{"constructor":{"prototype":{}}}}', 'constructor'],
    ] as const) {
      const message = expectCatalogue(await post(body), 'VALIDATION_FAILED');
      expect(message).toContain(`"${key}"`);
      expect(message).not.toMatch(/not valid JSON/i);
    }
    // JSON that does not parse still says so, and why.
    expect(expectCatalogue(await post('{"name":'), 'INVALID_JSON')).toMatch(/JSON/);
    expect(expectCatalogue(await post(''), 'INVALID_JSON')).toMatch(/empty/);
  });

  it("states each number field's own bounds, however far out the value is", async () => {
    const fields = Object.entries(FunctionSpec.shape).flatMap(([field, schema]) => {
      const inner = 'unwrap' in schema && typeof schema.unwrap === 'function' ? schema.unwrap() : schema;
      return 'maxValue' in inner && typeof inner.maxValue === 'number'
        ? [{ field, min: Number(inner.minValue), max: inner.maxValue }]
        : [];
    });
    // memoryMiB, timeoutMs, port, minInstances, maxInstances, concurrency, idleTtlMs, asyncConcurrency, asyncAttempts.
    expect(fields.length).toBeGreaterThanOrEqual(9);
    for (const { field, min, max } of fields) {
      for (const [value, bound] of [
        ['1e308', `<=${max}`],
        [String(max + 1), `<=${max}`],
        ['-1e308', `>=${min}`],
        [String(min - 1), `>=${min}`],
      ]) {
        const message = expectCatalogue(
          await post(`{"name":"n","image":"${digest}","${field}":${value}}`),
          'VALIDATION_FAILED',
        );
        expect(message, `${field}: ${value}`).toMatch(new RegExp(`^${field}: .*${bound}$`));
      }
      const half = expectCatalogue(
        await post(`{"name":"n","image":"${digest}","${field}":${min}.5}`),
        'VALIDATION_FAILED',
      );
      expect(half).toMatch(new RegExp(`^${field}: .*int`));
    }
  });
});

describe('401 answers', () => {
  it('carry WWW-Authenticate: Bearer realm="thaw", with error="invalid_token" for a wrong token', async () => {
    const none = await raw(request('GET /v1/functions HTTP/1.1'));
    expectCatalogue(none, 'UNAUTHORIZED');
    expect(none.headers['www-authenticate']).toBe('Bearer realm="thaw"');
    const wrong = await raw(request('GET /v1/functions HTTP/1.1\r\nAuthorization: Bearer wrong'));
    expectCatalogue(wrong, 'UNAUTHORIZED');
    expect(wrong.headers['www-authenticate']).toBe('Bearer realm="thaw", error="invalid_token"');

    // A function that needs its invoke token answers the same way.
    const deployed = await raw(
      request(
        `POST /v1/functions HTTP/1.1\r\n${admin}\r\nContent-Type: application/json`,
        JSON.stringify({ name: 'guarded', image: digest, invokeAuth: 'token' }),
      ),
    );
    expect(deployed.status, deployed.body).toBe(201);
    const invoke = await raw(request('POST /fn/guarded/ HTTP/1.1'));
    expectCatalogue(invoke, 'UNAUTHORIZED');
    expect(invoke.headers['www-authenticate']).toBe('Bearer realm="thaw"');
  });
});
