import { type FunctionRecord, FunctionSpec, ThawError } from '@thaw/shared';
import { describe, expect, it } from 'vitest';
import { configurationOf, createSpec, nameOf, updatedCodeSpec } from '../../src/lambda/config.js';
import { LambdaError, lambdaErrorOf } from '../../src/lambda/errors.js';

// The Lambda API's shapes and thaw's, without a gateway: what CreateFunction makes, how names
// and ARNs read, which Lambda error each thaw error becomes.
const DIGEST = `sha256:${'a'.repeat(64)}`;

function refusal(f: () => unknown): LambdaError {
  try {
    f();
  } catch (err) {
    if (err instanceof LambdaError) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe('CreateFunction and UpdateFunctionCode as FunctionSpecs', () => {
  it('maps memory, timeout (seconds), ephemeral storage, variables and the protocol tag', () => {
    expect(
      createSpec({
        FunctionName: 'arn:aws:lambda:eu-west-3:123456789012:function:hello',
        PackageType: 'Image',
        Role: 'ignored',
        Code: { ImageUri: DIGEST },
        MemorySize: 256,
        Timeout: 7,
        EphemeralStorage: { Size: 512 },
        Environment: { Variables: { A: '1' } },
      }),
    ).toEqual(
      FunctionSpec.parse({
        name: 'hello',
        image: DIGEST,
        memoryMiB: 256,
        timeoutMs: 7000,
        diskMiB: 512,
        env: { A: '1' },
        protocol: 'lambda',
        // Not callable anonymously over /fn, as on AWS.
        invokeAuth: 'token',
      }),
    );
    const http = createSpec({
      FunctionName: 'web',
      PackageType: 'Image',
      Code: { ImageUri: 'registry.example.com/team/web:1' },
      Tags: { 'thaw:protocol': 'http', 'thaw:invokeAuth': 'public' },
    });
    expect(http).toMatchObject({ name: 'web', protocol: 'http', timeoutMs: 30_000, invokeAuth: 'public' });
  });

  it('refuses zip packages, a missing image and bad values with Lambda field names', () => {
    const zip = refusal(() =>
      createSpec({ FunctionName: 'z', PackageType: 'Image', Code: { ZipFile: 'UEsDBA==' } }),
    );
    expect([zip.type, zip.status]).toEqual(['InvalidParameterValueException', 400]);
    expect(zip.message).toMatch(/zip packages are not supported/);
    // Lambda's default package type is Zip.
    expect(refusal(() => createSpec({ FunctionName: 'z', Code: { ImageUri: DIGEST } })).message).toMatch(
      /PackageType must be "Image"/,
    );
    expect(refusal(() => createSpec({ FunctionName: 'z', PackageType: 'Image', Code: {} })).message).toMatch(
      /Code.ImageUri is required/,
    );
    expect(
      refusal(() =>
        createSpec({ FunctionName: 'z', PackageType: 'Image', Code: { ImageUri: DIGEST }, MemorySize: 8 }),
      ).message,
    ).toMatch(/^MemorySize:/);
    expect(
      refusal(() =>
        createSpec({ FunctionName: 'z', PackageType: 'Image', Code: { ImageUri: DIGEST }, Timeout: 901 }),
      ).message,
    ).toMatch(/^Timeout:/);
    expect(
      refusal(() =>
        createSpec({
          FunctionName: 'z',
          PackageType: 'Image',
          Code: { ImageUri: DIGEST },
          Tags: { 'thaw:protocol': 'ftp' },
        }),
      ).message,
    ).toMatch(/thaw:protocol/);
  });

  it('keeps everything but the image on UpdateFunctionCode', () => {
    const now = new Date().toISOString();
    const fn: FunctionRecord = {
      ...FunctionSpec.parse({
        name: 'f',
        image: DIGEST,
        env: { A: '1' },
        memoryMiB: 512,
        protocol: 'lambda',
      }),
      revision: 3,
      status: 'ready',
      imageDigest: DIGEST,
      createdAt: now,
      updatedAt: now,
    };
    const next = `sha256:${'b'.repeat(64)}`;
    expect(updatedCodeSpec(fn, { ImageUri: next })).toEqual(
      FunctionSpec.parse({ name: 'f', image: next, env: { A: '1' }, memoryMiB: 512, protocol: 'lambda' }),
    );
    expect(configurationOf(fn, 'ap-south-1')).toMatchObject({
      FunctionArn: 'arn:aws:lambda:ap-south-1:000000000000:function:f',
      CodeSha256: 'a'.repeat(64),
      State: 'Active',
      Timeout: 30,
      LastModified: now.replace('Z', '+0000'),
    });
  });
});

describe('names and errors', () => {
  it('reads names, full and partial ARNs, with a qualifier', () => {
    expect(nameOf('f')).toEqual({ name: 'f' });
    expect(nameOf('arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST')).toEqual({
      name: 'f',
      qualifier: '$LATEST',
    });
    expect(nameOf('000000000000:function:f')).toEqual({ name: 'f' });
  });

  it('maps thaw errors to the Lambda errors the SDK knows', () => {
    const cases: [ThawError['code'], string, number][] = [
      ['FUNCTION_NOT_FOUND', 'ResourceNotFoundException', 404],
      ['FUNCTION_EXISTS', 'ResourceConflictException', 409],
      ['UPDATE_CONFLICT', 'ResourceConflictException', 409],
      ['FUNCTION_NOT_READY', 'ResourceConflictException', 409],
      ['VALIDATION_FAILED', 'InvalidParameterValueException', 400],
      ['IMAGE_NOT_FOUND', 'InvalidParameterValueException', 400],
      ['OVERLOADED', 'TooManyRequestsException', 429],
      ['PAYLOAD_TOO_LARGE', 'RequestTooLargeException', 413],
      ['FUNCTION_START_FAILED', 'InvalidRuntimeException', 502],
      ['NO_WORKER', 'ServiceException', 503],
      ['WORKER_LOST', 'ServiceException', 502],
      ['INTERNAL', 'ServiceException', 500],
    ];
    for (const [code, type, status] of cases) {
      const e = lambdaErrorOf(new ThawError(code));
      expect([code, e.type, e.status]).toEqual([code, type, status]);
    }
  });
});
