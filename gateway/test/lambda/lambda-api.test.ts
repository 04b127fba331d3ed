import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateFunctionCommand,
  DeleteFunctionCommand,
  GetFunctionCommand,
  InvalidParameterValueException,
  InvokeCommand,
  LambdaClient,
  type LambdaClientConfig,
  LambdaServiceException,
  ListFunctionsCommand,
  ResourceConflictException,
  ResourceNotFoundException,
  UpdateFunctionCodeCommand,
} from '@aws-sdk/client-lambda';
import { type Platform, startPlatform, uploadImage, workerEnvFor } from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoImage, lambdaRuntimeImage } from './function-image.js';

// @aws-sdk/client-lambda, unchanged but for its endpoint, against a real gateway, worker, NATS
// and Redis: signed with a key pair the admin API issued.
const rt = scratchRuntimeOptions('lam');
const REGION = 'eu-west-3';
let platform: Platform;
let keys: { accessKeyId: string; secretAccessKey: string };
let lambda: LambdaClient;
let digests: { v1: string; v2: string; runtime: string };

const client = (o: Partial<LambdaClientConfig> = {}) =>
  new LambdaClient({
    endpoint: platform.gatewayUrl,
    region: REGION,
    credentials: keys,
    maxAttempts: 1,
    ...o,
  });
const json = (payload: Uint8Array | undefined) => JSON.parse(Buffer.from(payload ?? []).toString('utf8'));

/** What the promise rejected with (fails the test when it resolved). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('the call succeeded');
}

beforeAll(async () => {
  platform = await startPlatform({
    gatewayPort: 0,
    prefix: `lam${process.pid}`,
    logs: 'buffer',
    workerEnv: workerEnvFor(rt),
  });
  const [v1, v2, runtime] = await Promise.all([
    echoImage(rt.stateDir, 'v1'),
    echoImage(rt.stateDir, 'v2'),
    lambdaRuntimeImage(rt.stateDir),
  ]);
  digests = {
    v1: (await uploadImage(platform.gatewayUrl, v1, platform.token)).digest,
    v2: (await uploadImage(platform.gatewayUrl, v2, platform.token)).digest,
    runtime: (await uploadImage(platform.gatewayUrl, runtime, platform.token)).digest,
  };
  const res = await platform.fetch(`${platform.gatewayUrl}/v1/access-keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ description: 'lambda-api test' }),
  });
  expect(res.status).toBe(201);
  keys = (await res.json()) as typeof keys;
  lambda = client();
}, 180_000);

afterAll(async () => {
  lambda?.destroy();
  await platform?.close();
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
});

describe('the Lambda API with @aws-sdk/client-lambda', () => {
  it('creates, reads, lists, invokes (all three types), updates the code of and deletes a function', async () => {
    const created = await lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'lam-echo',
        PackageType: 'Image',
        Role: 'arn:aws:iam::000000000000:role/ignored',
        Code: { ImageUri: digests.v1 },
        MemorySize: 128,
        Timeout: 2,
        Environment: { Variables: { GREETING: 'hello' } },
        Tags: { 'thaw:protocol': 'http' },
      }),
    );
    expect(created).toMatchObject({
      FunctionName: 'lam-echo',
      FunctionArn: `arn:aws:lambda:${REGION}:000000000000:function:lam-echo`,
      PackageType: 'Image',
      State: 'Active',
      MemorySize: 128,
      Timeout: 2,
      Environment: { Variables: { GREETING: 'hello' } },
      CodeSha256: digests.v1.slice('sha256:'.length),
    });

    const sync = await lambda.send(
      new InvokeCommand({
        FunctionName: 'lam-echo',
        Payload: Buffer.from(JSON.stringify({ n: 1 })),
        ClientContext: Buffer.from('{"custom":{"a":1}}').toString('base64'),
      }),
    );
    expect(sync.StatusCode).toBe(200);
    expect(sync.FunctionError).toBeUndefined();
    expect(sync.ExecutedVersion).toBe('$LATEST');
    expect(json(sync.Payload)).toEqual({
      version: 'v1',
      method: 'POST',
      path: '/',
      greeting: 'hello',
      clientContext: Buffer.from('{"custom":{"a":1}}').toString('base64'),
      event: { n: 1 },
    });

    // The function's own failures are function errors (200), as Lambda answers them.
    const failed = await lambda.send(
      new InvokeCommand({ FunctionName: 'lam-echo', Payload: Buffer.from('{"fail":true}') }),
    );
    expect(failed.StatusCode).toBe(200);
    expect(failed.FunctionError).toBe('Unhandled');
    expect(json(failed.Payload)).toMatchObject({
      errorType: 'HTTP.500',
      errorMessage: expect.stringContaining('oops'),
    });
    const slow = await lambda.send(
      new InvokeCommand({ FunctionName: 'lam-echo', Payload: Buffer.from('{"sleepMs":4000}') }),
    );
    expect(slow.FunctionError).toBe('Unhandled');
    expect(json(slow.Payload)).toMatchObject({ errorType: 'Sandbox.Timedout' });

    const dry = await lambda.send(new InvokeCommand({ FunctionName: 'lam-echo', InvocationType: 'DryRun' }));
    expect(dry.StatusCode).toBe(204);

    // Event: through the async queue; thaw's own API shows the call and its answer.
    let callId = '';
    const events = client();
    events.middlewareStack.add(
      (next) => async (args) => {
        const out = await next(args);
        const headers = (out.response as { headers: Record<string, string> }).headers;
        callId = headers['x-thaw-call-id'] ?? '';
        return out;
      },
      { step: 'deserialize' },
    );
    const queued = await events.send(
      new InvokeCommand({
        FunctionName: 'lam-echo',
        InvocationType: 'Event',
        Payload: Buffer.from('{"n":2}'),
      }),
    );
    events.destroy();
    expect(queued.StatusCode).toBe(202);
    expect(callId).toMatch(/^lam-echo\./);
    const deadline = Date.now() + 20_000;
    let call: { status?: string; response?: { body: string } } = {};
    while (Date.now() < deadline && call.status !== 'succeeded') {
      call = (await (
        await platform.fetch(`${platform.gatewayUrl}/v1/calls/${callId}`)
      ).json()) as typeof call;
      await sleep(100);
    }
    expect(call.status).toBe('succeeded');
    expect(JSON.parse(Buffer.from(call.response?.body ?? '', 'base64').toString())).toMatchObject({
      event: { n: 2 },
      path: '/',
    });

    const got = await lambda.send(new GetFunctionCommand({ FunctionName: 'lam-echo' }));
    expect(got.Configuration?.FunctionName).toBe('lam-echo');
    expect(got.Code?.ImageUri).toBe(digests.v1);

    const updated = await lambda.send(
      new UpdateFunctionCodeCommand({ FunctionName: 'lam-echo', ImageUri: digests.v2 }),
    );
    expect(updated.CodeSha256).toBe(digests.v2.slice('sha256:'.length));
    expect(updated.Environment?.Variables).toEqual({ GREETING: 'hello' });
    const after = await lambda.send(
      new InvokeCommand({ FunctionName: 'lam-echo', Payload: Buffer.from('{}') }),
    );
    expect(json(after.Payload)).toMatchObject({ version: 'v2', greeting: 'hello' });

    await lambda.send(new DeleteFunctionCommand({ FunctionName: 'lam-echo' }));
    const gone = await rejection(lambda.send(new InvokeCommand({ FunctionName: 'lam-echo' })));
    expect(gone).toBeInstanceOf(ResourceNotFoundException);
    expect((gone as ResourceNotFoundException).$metadata.httpStatusCode).toBe(404);
  });

  it('runs a Lambda runtime image: its payload, its errors, the log tail, an Event call', async () => {
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'lam-runtime',
        PackageType: 'Image',
        Role: 'r',
        Code: { ImageUri: digests.runtime },
      }),
    );
    const got = await lambda.send(new GetFunctionCommand({ FunctionName: 'lam-runtime' }));
    expect(got.Tags).toEqual({ 'thaw:protocol': 'lambda', 'thaw:invokeAuth': 'token' });
    // Created through the Lambda API, it is not open to anonymous calls over /fn.
    expect((await fetch(`${platform.gatewayUrl}/fn/lam-runtime/`)).status).toBe(401);
    const ok = await lambda.send(
      new InvokeCommand({ FunctionName: 'lam-runtime', Payload: Buffer.from('{"n":3}'), LogType: 'Tail' }),
    );
    expect(ok.FunctionError).toBeUndefined();
    expect(json(ok.Payload)).toEqual({ fn: 'lam-runtime', event: { n: 3 } });
    expect(Buffer.from(ok.LogResult ?? '', 'base64').toString()).toContain('handling {"n":3}');
    const failed = await lambda.send(
      new InvokeCommand({ FunctionName: 'lam-runtime', Payload: Buffer.from('{"fail":true}') }),
    );
    expect(failed.StatusCode).toBe(200);
    expect(failed.FunctionError).toBe('Unhandled');
    expect(json(failed.Payload)).toEqual({ errorMessage: 'asked to fail', errorType: 'TestError' });
    const queued = await lambda.send(
      new InvokeCommand({
        FunctionName: 'lam-runtime',
        InvocationType: 'Event',
        Payload: Buffer.from('{"n":4}'),
      }),
    );
    expect(queued.StatusCode).toBe(202);
    await lambda.send(new DeleteFunctionCommand({ FunctionName: 'lam-runtime' }));
  });

  it('lists functions in pages of MaxItems with NextMarker', async () => {
    for (const name of ['lam-a', 'lam-b', 'lam-c']) {
      await lambda.send(
        new CreateFunctionCommand({
          FunctionName: name,
          PackageType: 'Image',
          Role: 'r',
          Code: { ImageUri: digests.v1 },
          Tags: { 'thaw:protocol': 'http' },
        }),
      );
    }
    const names: string[] = [];
    let marker: string | undefined;
    let pages = 0;
    do {
      const page = await lambda.send(
        new ListFunctionsCommand({ MaxItems: 2, ...(marker ? { Marker: marker } : {}) }),
      );
      names.push(...(page.Functions ?? []).map((f) => f.FunctionName ?? ''));
      marker = page.NextMarker;
      pages++;
    } while (marker);
    expect(names).toEqual(['lam-a', 'lam-b', 'lam-c']);
    expect(pages).toBe(2);
    for (const name of names) await lambda.send(new DeleteFunctionCommand({ FunctionName: name }));
  });

  it('answers the SDK’s exceptions: not found, conflict, bad parameters', async () => {
    expect(await rejection(lambda.send(new GetFunctionCommand({ FunctionName: 'lam-none' })))).toBeInstanceOf(
      ResourceNotFoundException,
    );
    expect(
      await rejection(lambda.send(new DeleteFunctionCommand({ FunctionName: 'lam-none' }))),
    ).toBeInstanceOf(ResourceNotFoundException);
    const spec = {
      FunctionName: 'lam-dup',
      PackageType: 'Image' as const,
      Role: 'r',
      Code: { ImageUri: digests.v1 },
    };
    await lambda.send(new CreateFunctionCommand({ ...spec, Tags: { 'thaw:protocol': 'http' } }));
    expect(await rejection(lambda.send(new CreateFunctionCommand(spec)))).toBeInstanceOf(
      ResourceConflictException,
    );
    await lambda.send(new DeleteFunctionCommand({ FunctionName: 'lam-dup' }));
    const zip = await rejection(
      lambda.send(
        new CreateFunctionCommand({
          FunctionName: 'lam-zip',
          Role: 'r',
          Code: { ZipFile: new Uint8Array(4) },
        }),
      ),
    );
    expect(zip).toBeInstanceOf(InvalidParameterValueException);
    expect((zip as Error).message).toMatch(/container images only/);
    const badName = await rejection(
      lambda.send(new CreateFunctionCommand({ ...spec, FunctionName: 'Has_Upper' })),
    );
    expect(badName).toBeInstanceOf(InvalidParameterValueException);
    expect((badName as Error).message).toMatch(/^FunctionName:/);
  });

  it('refuses a wrong secret, an unknown or revoked key and a date past 15 minutes, with 403', async () => {
    const cases: [LambdaClient, string][] = [
      [client({ credentials: { ...keys, secretAccessKey: 'not-the-secret' } }), 'InvalidSignatureException'],
      [
        client({ credentials: { ...keys, accessKeyId: 'TKIANOSUCHKEY0000000' } }),
        'UnrecognizedClientException',
      ],
      [client({ systemClockOffset: -20 * 60 * 1000 }), 'InvalidSignatureException'],
    ];
    for (const [c, name] of cases) {
      const err = await rejection(c.send(new ListFunctionsCommand({})));
      c.destroy();
      expect(err).toBeInstanceOf(LambdaServiceException);
      expect((err as LambdaServiceException).name).toBe(name);
      expect((err as LambdaServiceException).$metadata.httpStatusCode).toBe(403);
    }
    // Unsigned: no call is made without a key.
    const unsigned = await fetch(`${platform.gatewayUrl}/2015-03-31/functions/`);
    expect(unsigned.status).toBe(403);
    expect(unsigned.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');

    // A revoked key stops working (within the secret cache's 5 s).
    const issued = (await (
      await platform.fetch(`${platform.gatewayUrl}/v1/access-keys`, { method: 'POST' })
    ).json()) as typeof keys;
    const listed = (await (await platform.fetch(`${platform.gatewayUrl}/v1/access-keys`)).json()) as {
      accessKeys: Record<string, unknown>[];
    };
    expect(listed.accessKeys.map((k) => k.accessKeyId)).toContain(issued.accessKeyId);
    expect(JSON.stringify(listed)).not.toContain(issued.secretAccessKey);
    const revoked = await platform.fetch(`${platform.gatewayUrl}/v1/access-keys/${issued.accessKeyId}`, {
      method: 'DELETE',
    });
    expect(revoked.status).toBe(204);
    await sleep(5100);
    const c = client({ credentials: issued });
    expect(((await rejection(c.send(new ListFunctionsCommand({})))) as Error).name).toBe(
      'UnrecognizedClientException',
    );
    c.destroy();
    // The admin routes take only the admin token.
    expect((await fetch(`${platform.gatewayUrl}/v1/access-keys`, { method: 'POST' })).status).toBe(401);
  });

  it('answers a malformed request in the Lambda shape with a 4xx, before any signature, never a 500', async () => {
    for (const path of ['/2015-03-31/functions/x/invocations', '/2015-03-31/functions']) {
      const res = await fetch(`${platform.gatewayUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'bad type;;' },
        body: '{}',
      });
      expect(res.status, path).toBe(415);
      expect(res.headers.get('x-amzn-errortype'), path).toBe('UnsupportedMediaTypeException');
    }
  });
});
