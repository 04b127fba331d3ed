import { Agent, type ClientRequest, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { InvokeRequest } from '@thaw/shared';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeApi } from '../../src/lambda/api.js';
import { logMark } from '../../src/lambda/environment.js';
import { LOG_RESULT_BYTES, RuntimeSession } from '../../src/lambda/session.js';
import type { InvokeResult } from '../../src/pool/forward.js';
import { ensureLambdaRic, HostRic, LAMBDA_RIC_INSTALL_TIMEOUT_MS } from './ric.js';

const READY_MS = 10_000;

function call(over: Partial<InvokeRequest>): InvokeRequest {
  return { method: 'POST', path: '/', query: '', headers: {}, body: new Uint8Array(), ...over };
}

function event(body: unknown, headers: Record<string, string> = {}): InvokeRequest {
  return call({ lambdaEvent: true, body: Buffer.from(JSON.stringify(body)), headers });
}

function json(r: InvokeResult): unknown {
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
  return JSON.parse(r.body.toString());
}

/** The real aws-lambda-ric, on this host, against the worker's Runtime API on 127.0.0.1. */
describe('Lambda Runtime API with the real aws-lambda-ric', () => {
  let api: RuntimeApi;
  const rics: HostRic[] = [];

  async function started(o: { handler?: string } = {}) {
    let ric: HostRic | undefined;
    const session = new RuntimeSession({
      functionName: 'ric-test',
      functionArn: api.functionArn('ric-test'),
      logMark: () => logMark(ric?.logPaths ?? { stdout: '', stderr: '' }, LOG_RESULT_BYTES),
    });
    api.bind('127.0.0.1', session);
    ric = await HostRic.start({ api: api.address, ...o });
    rics.push(ric);
    return { session, ric };
  }

  // Once per machine, unless infra/setup.sh did it: minutes of C++ (docs/lambda.md).
  beforeAll(async () => {
    await ensureLambdaRic();
  }, LAMBDA_RIC_INSTALL_TIMEOUT_MS);
  beforeAll(async () => {
    api = await RuntimeApi.listen({
      host: '127.0.0.1',
      port: 0,
      region: 'test-1',
      unknownAddressGraceMs: 200,
    });
  });
  afterEach(async () => {
    for (const ric of rics.splice(0)) await ric.stop();
  });
  afterAll(async () => {
    await api.close();
  });

  it('hands events to the runtime and answers its responses, errors and log tail', async () => {
    const { session, ric } = await started();
    await session.ready(READY_MS, () => ric.alive());

    const echo = await session.invoke(event({ hello: 1 }, { 'x-amz-log-type': 'Tail' }), 5000);
    expect(echo.ok && echo.status).toBe(200);
    // What it printed during this call only: not the ric's start-up line.
    const tail = Buffer.from(String(echo.ok && echo.headers['x-amz-log-result']), 'base64').toString();
    expect(tail).toMatch(/event 1 [0-9a-f-]{36}/);
    expect(tail).not.toContain('Executing');
    expect(await ric.output()).toContain('Executing');
    expect(json(echo)).toEqual({
      echo: { hello: 1 },
      calls: 1,
      region: undefined,
      arn: 'arn:aws:lambda:test-1:000000000000:function:ric-test',
    });

    const failed = await session.invoke(event({ fail: 'bad input' }), 5000);
    expect(failed.ok && failed.headers['x-amz-function-error']).toBe('Unhandled');
    expect(json(failed)).toMatchObject({ errorType: 'TypeError', errorMessage: 'bad input' });

    // Over HTTP: an API Gateway v2 event in, the result as the HTTP answer.
    const http = await session.invoke(
      call({
        method: 'PUT',
        path: '/x',
        query: 'q=1',
        headers: { 'content-type': 'text/plain' },
        body: Buffer.from('hi'),
      }),
      5000,
    );
    expect(http.ok && http.status).toBe(201);
    expect(http.ok && http.headers).toMatchObject({ 'x-handler': 'lambda', 'set-cookie': ['a=1', 'b=2'] });
    expect(json(http)).toMatchObject({ method: 'PUT', path: '/x', query: { q: '1' }, body: 'hi', calls: 3 });

    const httpError = await session.invoke(call({ path: '/fail' }), 5000);
    expect(httpError).toMatchObject({ ok: false, code: 'FUNCTION_ERROR' });
    expect(!httpError.ok && httpError.message).toContain('failed on purpose');
  });

  it('holds a pending /next while the runtime is stopped, then hands it the event', async () => {
    const { session, ric } = await started();
    await session.ready(READY_MS, () => ric.alive());
    ric.proc.kill('SIGSTOP');
    await sleep(300);
    const answer = session.invoke(event({ after: 'stop' }), 5000);
    await sleep(100);
    ric.proc.kill('SIGCONT');
    expect(json(await answer)).toMatchObject({ echo: { after: 'stop' }, calls: 1 });
  });

  it('a call past its timeout fails FUNCTION_TIMEOUT and the instance takes no more calls', async () => {
    const { session, ric } = await started();
    await session.ready(READY_MS, () => ric.alive());
    const t0 = performance.now();
    const slow = await session.invoke(event({ sleep: 2000 }), 300);
    expect(slow).toMatchObject({ ok: false, code: 'FUNCTION_TIMEOUT', crashed: true });
    expect(performance.now() - t0).toBeLessThan(1500);
    // Refused at once, though the runtime will be free again before this call's own timeout.
    const next = await session.invoke(event({}), 5000);
    expect(next).toMatchObject({ ok: false, code: 'FUNCTION_TIMEOUT', crashed: true });
    expect(!next.ok && next.message).toContain('earlier call');
  });

  it('a handler that cannot load fails the start with the runtime’s init error', async () => {
    const { session, ric } = await started({ handler: 'missing.handler' });
    await expect(session.ready(READY_MS, () => ric.alive())).rejects.toThrow(/failed to start: .*missing/i);
  });

  it('answers 403 to an address no instance has, 400 to an unknown event id', async () => {
    const status = (path: string, method: string, localAddress: string) =>
      new Promise<number>((resolve, reject) => {
        const [host, port] = api.address.split(':');
        const req = request({ host, port: Number(port), path, method, localAddress }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end(method === 'POST' ? '{}' : undefined);
      });
    expect(await status('/2018-06-01/runtime/invocation/next', 'GET', '127.0.0.2')).toBe(403);
    api.bind('127.0.0.1', new RuntimeSession({ functionName: 'x', functionArn: 'arn' }));
    expect(await status('/2018-06-01/runtime/invocation/nope/response', 'POST', '127.0.0.1')).toBe(400);
    expect(await status('/2018-06-01/runtime/other', 'GET', '127.0.0.1')).toBe(404);
  });

  it('bounds what one instance holds open: a newer /next cuts the older, a fifth request is refused, a stray answer is not read', async () => {
    api.bind('127.0.0.1', new RuntimeSession({ functionName: 'y', functionArn: 'arn' }));
    const [host, port] = api.address.split(':');
    const agent = new Agent({ keepAlive: false, maxSockets: 16 });
    const reqs: ClientRequest[] = [];
    /** A request, ended with `body` or left open (`body` undefined for a POST: still sending). */
    const open = (path: string, method = 'GET', body?: Buffer) => {
      const req = request({ host, port: Number(port), path, method, agent });
      reqs.push(req);
      const done = new Promise<{ status: number } | { cut: true }>((resolve) => {
        req.on('response', (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0 });
        });
        req.on('error', () => resolve({ cut: true }));
      });
      if (method === 'GET' || body) req.end(body);
      else req.write('{"errorMessage":'); // the rest never comes: the request stays open
      return done;
    };
    const pending = (p: Promise<unknown>) => Promise.race([p.then(() => false), sleep(300).then(() => true)]);
    try {
      const next = '/2018-06-01/runtime/invocation/next';
      const first = open(next);
      await sleep(100);
      const second = open(next);
      // The held /next is cut the moment a newer one arrives; the newer one stays held.
      expect(await first).toEqual({ cut: true });
      expect(await pending(second)).toBe(true);
      // With three answers still being sent, the instance has four requests open: a fifth is 429.
      const slow = [1, 2, 3].map(() => open('/2018-06-01/runtime/init/error', 'POST'));
      await sleep(100);
      expect(await open(next)).toEqual({ status: 429 });
      for (const r of reqs.splice(0)) r.destroy();
      await Promise.all([second, ...slow]);
      await sleep(100);
      // A large answer to no running event: 400 at once, the body not read.
      const t0 = performance.now();
      const stray = await open('/2018-06-01/runtime/invocation/nope/response', 'POST', Buffer.alloc(4 << 20));
      expect(stray).toEqual({ status: 400 });
      expect(performance.now() - t0).toBeLessThan(2000);
    } finally {
      for (const r of reqs) r.destroy();
      agent.destroy();
    }
  });
});
