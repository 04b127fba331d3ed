import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  deleteFunction,
  deployFunction,
  type Platform,
  startPlatform,
  uploadImage,
  workerEnvFor,
} from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMisbehavingImage } from './misbehaving-image.js';

// thaw's error answers as a client sees them, each made by a real call through one platform
// (gateway, NATS, worker, runc), checked against docs/errors.md: status, body, headers.

const rt = scratchRuntimeOptions('rsp');
let platform: Platform;
let digest: string;
// A "registry" that takes connections and never answers: a pull that stays underway.
let stall: Server;
let stallHits = 0;

beforeAll(async () => {
  platform = await startPlatform({
    gatewayPort: 0,
    prefix: `rsp${process.pid}`,
    logs: 'buffer',
    // Its registry is on this host, an address workers refuse by default.
    workerEnv: { ...workerEnvFor(rt), THAW_REGISTRY_PRIVATE: 'allow' },
  });
  const archive = await buildMisbehavingImage(join(rt.stateDir, 'archives'));
  ({ digest } = await uploadImage(platform.gatewayUrl, archive, platform.token));
  stall = createServer(() => {
    stallHits++;
  });
  await new Promise<void>((r) => stall.listen(0, '127.0.0.1', r));
  await deployFunction(
    platform.gatewayUrl,
    { name: 'misbehave', image: digest, asyncAttempts: 1, timeoutMs: 10_000 },
    platform.token,
  );
}, 180_000);

afterAll(async () => {
  stall?.closeAllConnections();
  await new Promise((r) => (stall ? stall.close(r) : r(undefined)));
  await platform?.close();
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function call(path: string, init?: RequestInit): Promise<Answer> {
  const res = await platform.fetch(`${platform.gatewayUrl}${path}`, init);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** A thaw error answer as docs/errors.md gives it: the status, the body, `x-thaw-error`. */
function expectThawError(a: Answer, status: number, code: string): string {
  expect({ status: a.status, code: a.headers.get('x-thaw-error') }).toEqual({ status, code });
  expect(a.headers.get('content-type')).toMatch(/^application\/json/);
  const body = JSON.parse(a.text) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message']);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  return body.error.message;
}

async function metricsText(): Promise<string> {
  return await (await platform.fetch(`${platform.gatewayUrl}/metrics`)).text();
}

describe('error responses through a real platform', () => {
  it('429 OVERLOADED with Retry-After when every slot is busy and the queue cannot drain in time', async () => {
    // Used by the draining test below.
    await deployFunction(
      platform.gatewayUrl,
      { name: 'narrow', image: digest, maxInstances: 1, concurrency: 1, timeoutMs: 20_000 },
      platform.token,
    );
    expect((await call('/fn/narrow/')).status).toBe(200);
    // One instance, one request at a time, 2 s timeout: a call that finds the oldest waiter
    // waiting for half the timeout already would not be served in time, and is refused at once.
    await deployFunction(
      platform.gatewayUrl,
      { name: 'tight', image: digest, maxInstances: 1, concurrency: 1, timeoutMs: 2000 },
      platform.token,
    );
    expect((await call('/fn/tight/')).status).toBe(200);
    const running = call('/fn/tight/sleep?ms=1500');
    await new Promise((r) => setTimeout(r, 100));
    const waiting = call('/fn/tight/');
    await new Promise((r) => setTimeout(r, 1100));
    const refused = await call('/fn/tight/');
    const message = expectThawError(refused, 429, 'OVERLOADED');
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(message).toMatch(/timeout/);
    expect((await running).status).toBe(200);
    expect((await waiting).status).toBe(200);
  }, 60_000);

  it('503 FUNCTION_NOT_READY with Retry-After: 1 while the image is being pulled', async () => {
    const ref = `127.0.0.1:${(stall.address() as AddressInfo).port}/team/slow:1`;
    const res = await call('/v1/functions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'pulling', image: ref }),
    });
    expect(res.status).toBe(202);
    expect(JSON.parse(res.text)).toMatchObject({ status: 'pulling' });
    // The worker has asked the registry: the pull is underway, not failed or done.
    const deadline = Date.now() + 20_000;
    while (stallHits === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(stallHits).toBeGreaterThan(0);
    const a = await call('/fn/pulling/');
    const message = expectThawError(a, 503, 'FUNCTION_NOT_READY');
    expect(a.headers.get('retry-after')).toBe('1');
    expect(message).toMatch(/pulling/);
    await deleteFunction(platform.gatewayUrl, 'pulling', platform.token);
    // The pull fails now, with nothing left to update.
    stall.closeAllConnections();
  }, 60_000);

  it('502 RESPONSE_TOO_LARGE for an answer larger than one call carries; a smaller one passes whole', async () => {
    const big = await call('/fn/misbehave/big?mib=9');
    expect(expectThawError(big, 502, 'RESPONSE_TOO_LARGE')).toMatch(/larger than \d+ bytes/);
    const fits = await platform.fetch(`${platform.gatewayUrl}/fn/misbehave/big?mib=7`);
    expect(fits.status).toBe(200);
    expect((await fits.arrayBuffer()).byteLength).toBe(7 * 1024 * 1024);
  }, 60_000);

  it('502 UPSTREAM_ERROR when the function closes the connection and keeps running', async () => {
    const a = await call('/fn/misbehave/hangup');
    expect(expectThawError(a, 502, 'UPSTREAM_ERROR')).toMatch(/closed the connection/);
    // The same instance serves on: it was not a crash.
    const next = await call('/fn/misbehave/after');
    expect(next.status).toBe(200);
    expect(JSON.parse(next.text)).toEqual({ path: '/after' });
  }, 30_000);

  it('502 FUNCTION_START_FAILED when no instance starts, with its output in the message', async () => {
    // Created even though its first placement fails; the call tries again and says why.
    await deployFunction(
      platform.gatewayUrl,
      { name: 'nostart', image: digest, env: { FAIL_START: 'bad-setting-42' } },
      platform.token,
    );
    const a = await call('/fn/nostart/');
    expect(expectThawError(a, 502, 'FUNCTION_START_FAILED')).toMatch(/refusing to start: bad-setting-42/);
  }, 60_000);

  it("drops a function's own x-thaw-error header, sync and async, and counts the answer as the function's", async () => {
    for (const status of [200, 500]) {
      const a = await call(`/fn/misbehave/forge?status=${status}`);
      expect(a.status).toBe(status);
      expect(a.text).toBe('my own answer');
      expect(a.headers.get('x-thaw-error')).toBeNull();
      expect(a.headers.get('x-own')).toBe('kept');
    }
    const metrics = await metricsText();
    for (const status of [200, 500]) {
      expect(metrics).toMatch(
        new RegExp(
          `thaw_gateway_invocations_total\\{function="misbehave",status="${status}",code=""\\} [1-9]`,
        ),
      );
    }
    expect(metrics).not.toMatch(/thaw_gateway_invocations_total\{function="misbehave",[^}]*code="NO_WORKER"/);

    // Async: the stored answer and the reason it failed are the function's own.
    const queued = await call('/async/misbehave/forge?status=500', { method: 'POST' });
    expect(queued.status).toBe(202);
    const { callId } = JSON.parse(queued.text) as { callId: string };
    let view: {
      status: string;
      error?: string;
      response?: { status: number; headers: Record<string, unknown> };
    };
    const deadline = Date.now() + 30_000;
    for (;;) {
      view = JSON.parse((await call(`/v1/calls/${callId}`)).text) as typeof view;
      if (view.status === 'dead' || view.status === 'succeeded' || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(view.status).toBe('dead');
    expect(view.response?.status).toBe(500);
    expect(view.response?.headers['x-own']).toBe('kept');
    expect(view.response?.headers).not.toHaveProperty('x-thaw-error');
    expect(view.error).toMatch(/answered 500$/);
  }, 60_000);

  it('a draining worker (SIGTERM) finishes its queued calls; new calls get 503 NO_WORKER', async () => {
    const worker = platform.worker;
    if (!worker) throw new Error('the platform started no worker');
    // narrow: one running and two waiting for the one instance when the worker is told to stop.
    const calls = [1, 2, 3].map((i) => call(`/fn/narrow/sleep?ms=800&i=${i}`));
    await new Promise((r) => setTimeout(r, 300));
    const exited = new Promise<number | null>((r) => worker.once('exit', (code) => r(code)));
    worker.kill('SIGTERM');
    // It says so in a heartbeat as it stops listening; from then on calls are refused.
    const until = Date.now() + 10_000;
    for (;;) {
      const { workers } = JSON.parse((await call('/v1/workers')).text) as {
        workers: { draining: boolean }[];
      };
      if (workers[0]?.draining || Date.now() > until) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    // Refused while the worker is still finishing its calls.
    const late = await call('/fn/narrow/late');
    expect(worker.exitCode).toBeNull();
    expectThawError(late, 503, 'NO_WORKER');
    const done = await Promise.all(calls);
    expect(done.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(done.map((a) => JSON.parse(a.text))).toEqual([{ slept: 800 }, { slept: 800 }, { slept: 800 }]);
    expect(await exited).toBe(0);
  }, 60_000);
});
