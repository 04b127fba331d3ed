/**
 * forward(): one call to an instance over a real undici Pool and a real HTTP server standing in
 * for the container (the container's process itself is faked: alive or not, its log).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { InvokeRequest } from '@thaw/shared';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ForwardTarget, forward, MAX_RESPONSE_BYTES } from '../../src/pool/forward.js';
import { UPSTREAM_DEADLINE_SWEEP_MS } from '../../src/pool/upstream.js';

type Route = (req: IncomingMessage, res: ServerResponse) => void;

/** The bodies /echo received, in order. */
const echoed: string[] = [];

const routes: Record<string, Route> = {
  '/echo': (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      echoed.push(Buffer.concat(chunks).toString());
      res.setHeader('x-seen', `${req.method} ${req.url} ${req.headers['x-in']}`);
      res.setHeader('connection', 'keep-alive, x-private');
      res.setHeader('x-private', 'hop');
      res.writeHead(201);
      // In pieces, so the answer is read from several chunks.
      res.write(Buffer.concat(chunks));
      setTimeout(() => res.end(':done'), 5);
    });
  },
  '/hints': (_req, res) => {
    res.writeEarlyHints({ link: '</a.css>; rel=preload' });
    res.end('after hints');
  },
  '/never': () => {},
  '/huge': (_req, res) => {
    const piece = Buffer.alloc(1024 * 1024, 1);
    let sent = 0;
    const more = () => {
      while (sent <= MAX_RESPONSE_BYTES && res.write(piece)) sent += piece.length;
      if (sent <= MAX_RESPONSE_BYTES) res.once('drain', more);
      else res.end();
    };
    res.on('error', () => {});
    more();
  },
  '/reset': (req) => req.socket.destroy(),
};

let server: Server;
let origin: string;
const pools: Pool[] = [];

beforeAll(async () => {
  server = createServer((req, res) => routes[(req.url ?? '').split('?')[0] ?? '']?.(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.destroy()));
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

/** An instance whose container process is alive (or not) and wrote `log`. */
function target(o: { connections?: number; exited?: boolean } = {}): ForwardTarget {
  const http = new Pool(origin, { connections: o.connections ?? 4, pipelining: 1 });
  pools.push(http);
  const container = {
    waitExit: async () => o.exited ?? false,
    readLog: async () => 'boom\n',
    oomKilled: () => false,
  } as unknown as ForwardTarget['container'];
  return { http, container, lambda: undefined };
}

function request(path: string, body = '', query = ''): InvokeRequest {
  return { method: 'POST', path, query, headers: { 'x-in': 'in' }, body: Buffer.from(body) };
}

describe('forward', () => {
  it('answers with the status, the end-to-end headers and the whole body', async () => {
    const r = await forward(target(), request('/echo', 'hello', 'a=1'), 5000);
    if (!r.ok) throw new Error(r.message);
    expect(r.status).toBe(201);
    expect(r.headers['x-seen']).toBe('POST /echo?a=1 in');
    // Hop-by-hop, and named as such by the answer's Connection header: not passed on.
    expect(r.headers.connection).toBeUndefined();
    expect(r.headers['x-private']).toBeUndefined();
    expect(r.body.toString()).toBe('hello:done');
  });

  it('reads the final answer after 1xx informational ones', async () => {
    const r = await forward(target(), request('/hints'), 5000);
    expect(r).toMatchObject({ ok: true, status: 200 });
    expect(r.ok && r.body.toString()).toBe('after hints');
  });

  it('fails FUNCTION_TIMEOUT within a sweep of the timeout, not before', async () => {
    const started = performance.now();
    const r = await forward(target(), request('/never'), 300);
    const took = performance.now() - started;
    expect(r).toMatchObject({ ok: false, code: 'FUNCTION_TIMEOUT' });
    expect(took).toBeGreaterThanOrEqual(299);
    expect(took).toBeLessThan(300 + 4 * UPSTREAM_DEADLINE_SWEEP_MS);
  });

  it('times out a call still queued for a connection, and never sends it', async () => {
    const inst = target({ connections: 1 });
    const hanging = forward(inst, request('/never'), 600);
    const queued = await forward(inst, request('/echo', 'late'), 200);
    expect(queued).toMatchObject({ ok: false, code: 'FUNCTION_TIMEOUT' });
    expect(await hanging).toMatchObject({ ok: false, code: 'FUNCTION_TIMEOUT' });
    // The connection is free again: the next call is answered.
    expect(await forward(inst, request('/echo', 'next'), 2000)).toMatchObject({ ok: true, status: 201 });
    expect(echoed).toContain('next');
    expect(echoed).not.toContain('late');
  });

  it('fails RESPONSE_TOO_LARGE for an answer over the limit', async () => {
    const r = await forward(target(), request('/huge'), 10_000);
    expect(r).toMatchObject({ ok: false, code: 'RESPONSE_TOO_LARGE' });
  });

  it('a closed connection is UPSTREAM_ERROR while the process lives, FUNCTION_CRASHED once it exited', async () => {
    expect(await forward(target(), request('/reset'), 5000)).toMatchObject({
      ok: false,
      code: 'UPSTREAM_ERROR',
    });
    const crashed = await forward(target({ exited: true }), request('/reset'), 5000);
    expect(crashed).toMatchObject({ ok: false, code: 'FUNCTION_CRASHED', crashed: true });
    expect(!crashed.ok && crashed.message).toContain('boom');
  });
});
