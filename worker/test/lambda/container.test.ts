import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bridgeAddress } from '@thaw/runtime';
import {
  buildLambdaImage,
  ensureLambdaRic,
  LAMBDA_RIC_INSTALL_TIMEOUT_MS,
  lambdaImageDefinition,
  writeImageArchive,
} from '@thaw/runtime/testimages';
import {
  type DecodedReply,
  decodeInvokeReply,
  encodeInvokeRequest,
  type FunctionRecord,
  type FunctionSpecInput,
  type ImageRecord,
  type InvokeRequest,
  PlaceReply,
} from '@thaw/shared';
import { headers, JSONCodec } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callWorker, fnRecordFor, importArchive, kernelFrozen, until } from '../helpers.js';
import { openTestWorker, type TestWorker } from '../test-worker.js';

const json = JSONCodec<unknown>();
let t: TestWorker;
let image: ImageRecord;
let badImage: ImageRecord;

// Once per machine, unless infra/setup.sh did it: minutes of C++ (docs/lambda.md).
beforeAll(async () => {
  await ensureLambdaRic();
}, LAMBDA_RIC_INSTALL_TIMEOUT_MS);

beforeAll(async () => {
  t = await openTestWorker('s15bl', { FREEZE_AFTER_MS: '50' });
  const dir = join(t.rt.stateDir, 'archives');
  const built = await buildLambdaImage('docker-archive', dir);
  image = await importArchive(t.nc, t.subj.importImage, 'lambda', built.path);
  // The same image whose CMD names a handler its task root does not have.
  const def = await lambdaImageDefinition();
  const bad = await writeImageArchive(
    { ...def, config: { ...def.config, Cmd: ['missing.handler'] } },
    'docker-archive',
    join(dir, 'bad.tar'),
  );
  badImage = await importArchive(t.nc, t.subj.importImage, 'lambda-bad', bad.path);
});

afterAll(async () => {
  await t?.close();
});

function request(fn: FunctionRecord) {
  const record = fn.image === badImage.digest ? badImage : image;
  return t.nc.request(t.subj.place, json.encode({ fn, image: { kind: 'upload', record } }), {
    timeout: 60_000,
  });
}

async function place(fn: FunctionRecord): Promise<void> {
  const msg = await request(fn);
  expect(PlaceReply.parse(json.decode(msg.data))).toMatchObject({ ok: true });
}

function lambdaFn(name: string, extra: Partial<FunctionSpecInput> = {}, img = image): FunctionRecord {
  return fnRecordFor(img, name, { protocol: 'lambda', timeoutMs: 5000, ...extra });
}

async function invoke(name: string, over: Partial<InvokeRequest>): Promise<DecodedReply> {
  const req: InvokeRequest = {
    method: 'GET',
    path: '/',
    query: '',
    headers: {},
    body: new Uint8Array(),
    ...over,
  };
  const h = headers();
  const payload = encodeInvokeRequest(req, h);
  const { answer } = await callWorker(t.nc, t.subj.invoke(name), payload, h, 20_000);
  return decodeInvokeReply(answer.headers, answer.data);
}

function body(r: DecodedReply): Record<string, unknown> {
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
  return JSON.parse(r.body.toString()) as Record<string, unknown>;
}

function instances(name: string) {
  return t.worker.service.heartbeatMessage().functions.find((f) => f.name === name)?.instances ?? [];
}

/** The aws-lambda-ric image, unmodified, as a `lambda` function of a real worker. */
describe('lambda functions on a worker', () => {
  it('serves /fn calls as API Gateway v2 events, frozen between calls with /next held', async () => {
    await place(lambdaFn('lam'));
    const first = await invoke('lam', {
      method: 'POST',
      path: '/items',
      query: 'a=1',
      headers: { 'content-type': 'application/json' },
      body: Buffer.from('{"x":1}'),
    });
    expect(first.ok && first.status).toBe(201);
    expect(first.ok && first.headers).toMatchObject({ 'x-handler': 'lambda', 'set-cookie': ['a=1', 'b=2'] });
    expect(body(first)).toMatchObject({
      method: 'POST',
      path: '/items',
      query: { a: '1' },
      body: '{"x":1}',
      calls: 1,
      fn: 'lam',
      handler: 'index.handler',
    });
    // Idle: the kernel holds it frozen, its runtime blocked in a /next the worker holds.
    const c = t.worker.runtime.list().find((x) => x.id === instances('lam')[0]?.id);
    if (!c) throw new Error('no instance');
    expect(await until(() => c.state === 'frozen', 3000)).toBe(true);
    expect(kernelFrozen(t.rt.cgroupParent, c.id)).toBe(true);
    await sleep(200);
    expect(kernelFrozen(t.rt.cgroupParent, c.id)).toBe(true);
    // Thawed, it takes the next event on the same /next: the same process counts on.
    const second = await invoke('lam', { path: '/plain' });
    expect(second.ok && second.status).toBe(200);
    expect(body(second)).toEqual({ plain: true });
    expect(body(await invoke('lam', { path: '/again' }))).toMatchObject({ calls: 3 });
    expect(instances('lam')).toHaveLength(1);
  });

  it('reaches the Runtime API through the firewall, and no other port of the host', async () => {
    const other = createServer((sock) => sock.destroy());
    await new Promise<void>((r) => other.listen(0, bridgeAddress(t.rt.subnet), r));
    try {
      const port = (other.address() as AddressInfo).port;
      expect(body(await invoke('lam', { path: '/probe', query: 'port=901' }))).toEqual({
        probe: 'connected',
      });
      expect(body(await invoke('lam', { path: '/probe', query: `port=${port}` }))).toEqual({
        probe: 'timeout',
      });
    } finally {
      await new Promise((r) => other.close(r));
    }
  });

  it('passes Lambda events unchanged and reports function errors as Lambda does', async () => {
    const ok = await invoke('lam', {
      method: 'POST',
      lambdaEvent: true,
      headers: { 'x-amz-log-type': 'Tail' },
      body: Buffer.from('{"k":"v"}'),
    });
    expect(body(ok)).toMatchObject({
      echo: { k: 'v' },
      region: 'local',
      arn: 'arn:aws:lambda:local:000000000000:function:lam',
    });
    const tail = Buffer.from(String(ok.ok && ok.headers['x-amz-log-result']), 'base64').toString();
    expect(tail).toMatch(/event \d+ [0-9a-f-]{36}/);

    const failed = await invoke('lam', {
      method: 'POST',
      lambdaEvent: true,
      body: Buffer.from('{"fail":"nope"}'),
    });
    expect(failed.ok && failed.status).toBe(200);
    expect(failed.ok && failed.headers['x-amz-function-error']).toBe('Unhandled');
    expect(body(failed)).toMatchObject({ errorType: 'TypeError', errorMessage: 'nope' });

    const httpFailed = await invoke('lam', { path: '/fail' });
    expect(httpFailed).toMatchObject({ ok: false, code: 'FUNCTION_ERROR' });
    expect(!httpFailed.ok && httpFailed.message).toContain('failed on purpose');
  });

  it('a timeout answers FUNCTION_TIMEOUT and the instance is replaced', async () => {
    await place(lambdaFn('lam-slow', { timeoutMs: 1000 }));
    expect(body(await invoke('lam-slow', { path: '/warm' }))).toMatchObject({ calls: 1 });
    const before = instances('lam-slow').map((i) => i.id);
    const slow = await invoke('lam-slow', { path: '/sleep', query: 'ms=4000' });
    expect(slow).toMatchObject({ ok: false, code: 'FUNCTION_TIMEOUT' });
    // A fresh runtime answers the next call: its count starts again.
    expect(body(await invoke('lam-slow', { path: '/after' }))).toMatchObject({ calls: 1 });
    expect(instances('lam-slow').map((i) => i.id)).not.toEqual(before);
  });

  it('a runtime that reports an init error fails the start with FUNCTION_START_FAILED', async () => {
    // Placing starts a first instance, so the placement reports it.
    const reply = PlaceReply.parse(json.decode((await request(lambdaFn('lam-bad', {}, badImage))).data));
    expect(reply).toMatchObject({ ok: false, error: { code: 'FUNCTION_START_FAILED' } });
    expect(!reply.ok && reply.error.message).toMatch(/failed to start: Runtime.ImportModuleError.*missing/);
  });
});
