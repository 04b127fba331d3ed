import { join } from 'node:path';
import {
  deployFunction,
  type Platform,
  startPlatform,
  unwrap,
  uploadImage,
  workerEnvFor,
} from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { buildLambdaImage, ensureLambdaRic, LAMBDA_RIC_INSTALL_TIMEOUT_MS } from '@thaw/runtime/testimages';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNothingLeft } from './leftovers.js';

// A Lambda-style image (the real aws-lambda-ric, /lambda-entrypoint.sh) deployed unmodified as a
// `lambda` function, called through the gateway as any function is: sync over /fn, async.

const rt = scratchRuntimeOptions('lamrt');
let platform: Platform | undefined;
let gw: string;

// Once per machine, unless infra/setup.sh did it: minutes of C++ (docs/lambda.md).
beforeAll(async () => {
  await ensureLambdaRic();
}, LAMBDA_RIC_INSTALL_TIMEOUT_MS);

beforeAll(async () => {
  platform = await startPlatform({
    gatewayPort: 0,
    prefix: `lamrt${process.pid}`,
    logs: 'buffer',
    workerEnv: workerEnvFor(rt),
  });
  gw = platform.gatewayUrl;
  const image = await buildLambdaImage('docker-archive', join(rt.stateDir, 'archives'));
  const { digest } = await uploadImage(gw, image.path, platform.token);
  await deployFunction(
    gw,
    { name: 'lam', image: digest, protocol: 'lambda', asyncAttempts: 1 },
    platform.token,
  );
}, 180_000);

afterAll(async () => {
  await platform?.close();
  await expectNothingLeft(rt);
});

describe('a Lambda runtime image behind the gateway', () => {
  it('answers /fn calls from its handler’s API Gateway v2 result', async () => {
    const res = await fetch(`${gw}/fn/lam/orders?id=7`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"qty":2}',
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-handler')).toBe('lambda');
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(await res.json()).toMatchObject({
      method: 'POST',
      path: '/orders',
      query: { id: '7' },
      body: '{"qty":2}',
      fn: 'lam',
      handler: 'index.handler',
    });
    const plain = await fetch(`${gw}/fn/lam/plain`);
    expect(plain.status).toBe(200);
    expect(await plain.json()).toEqual({ plain: true });
  });

  it('answers 502 FUNCTION_ERROR with the error message when the handler throws', async () => {
    const res = await fetch(`${gw}/fn/lam/fail`);
    expect(res.status).toBe(502);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('FUNCTION_ERROR');
    expect(body.error.message).toContain('failed on purpose');
  });

  it('runs async calls and keeps their answers', async () => {
    const queued = await fetch(`${gw}/async/lam/jobs`, { method: 'POST', body: 'work' });
    expect(queued.status).toBe(202);
    const { callId } = (await queued.json()) as { callId: string };
    const deadline = Date.now() + 30_000;
    let call = { status: '' } as { status: string; response?: { status: number; body?: string } };
    while (Date.now() < deadline) {
      if (!platform) throw new Error('no platform');
      call = unwrap(await platform.api.GET('/v1/calls/{callId}', { params: { path: { callId } } }));
      if (call.status === 'succeeded' || call.status === 'dead') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(call.status).toBe('succeeded');
    expect(call.response?.status).toBe(201);
    const answer = JSON.parse(Buffer.from(call.response?.body ?? '', 'base64').toString()) as unknown;
    expect(answer).toMatchObject({ method: 'POST', path: '/jobs', body: 'work' });
  });
});
