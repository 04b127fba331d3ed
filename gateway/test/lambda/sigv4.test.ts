import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import {
  MAX_CLOCK_SKEW_MS,
  readCredential,
  SignatureError,
  type SignedRequest,
  verifySignature,
} from '../../src/lambda/sigv4.js';

// The verifier against the AWS SDK's own signer: requests signed by @smithy/signature-v4 (what
// @aws-sdk/client-lambda uses) pass, and any change to what was signed fails.
const credentials = {
  accessKeyId: 'TKIATESTTESTTESTTEST',
  secretAccessKey: 'c2VjcmV0IHNlY3JldCBzZWNyZXQgc2VjcmV0',
};
const signer = new SignatureV4({
  credentials,
  region: 'eu-west-3',
  service: 'lambda',
  sha256: Hash.bind(null, 'sha256'),
});
const AT = Date.UTC(2026, 11, 6, 7, 30, 0);

interface Plain {
  method: string;
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
}

/** Signs as the SDK does, then renders the request as the gateway receives it. */
async function signed(r: Plain, at = AT): Promise<SignedRequest> {
  const out = await signer.sign(
    {
      method: r.method,
      protocol: 'http:',
      hostname: 'localhost',
      port: 8080,
      path: r.path,
      query: r.query ?? {},
      headers: { host: 'localhost:8080', 'content-type': 'application/json', ...(r.headers ?? {}) },
      ...(r.body !== undefined ? { body: r.body } : {}),
    },
    { signingDate: new Date(at) },
  );
  const qs = Object.entries(out.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(out.headers)) headers[k.toLowerCase()] = v;
  return {
    method: out.method,
    url: qs ? `${out.path}?${qs}` : out.path,
    headers,
    body: Buffer.from(r.body ?? ''),
  };
}

const verify = (req: SignedRequest, now = AT, secretAccessKey = credentials.secretAccessKey) =>
  verifySignature(req, readCredential(req), { secretAccessKey, service: 'lambda', now });

function refusal(f: () => void): SignatureError {
  try {
    f();
  } catch (err) {
    if (err instanceof SignatureError) return err;
    throw err;
  }
  throw new Error('the request was accepted');
}

describe('SigV4 verification of requests the SDK signed', () => {
  it('accepts a POST with a body, a GET with a query and an encoded path', async () => {
    verify(await signed({ method: 'POST', path: '/2015-03-31/functions', body: '{"FunctionName":"a"}' }));
    verify(
      await signed({
        method: 'GET',
        path: '/2015-03-31/functions/',
        query: { MaxItems: '2', Marker: 'b c/d+e*' },
      }),
    );
    // The SDK encodes a function ARN's colons in the path; the signer encodes the path again.
    verify(
      await signed({
        method: 'POST',
        path: `/2015-03-31/functions/${encodeURIComponent('arn:aws:lambda:eu-west-3:000000000000:function:f')}/invocations`,
        headers: { 'x-amz-invocation-type': 'Event', 'x-amz-client-context': '  e30=  ' },
        body: '{}',
      }),
    );
    verify(await signed({ method: 'DELETE', path: '/2015-03-31/functions/f' }));
  });

  it('reads the key id, scope and signed headers from the Authorization header', async () => {
    const cred = readCredential(await signed({ method: 'GET', path: '/2015-03-31/functions/f' }));
    expect(cred).toMatchObject({
      accessKeyId: credentials.accessKeyId,
      date: '20261206',
      region: 'eu-west-3',
      service: 'lambda',
    });
    expect(cred.signedHeaders).toEqual(
      expect.arrayContaining(['host', 'x-amz-date', 'x-amz-content-sha256']),
    );
  });

  it('refuses a changed body, path, query, signed header or method', async () => {
    const base = await signed({
      method: 'POST',
      path: '/2015-03-31/functions',
      query: { a: '1' },
      body: '{"x":1}',
    });
    // Accepted as signed: each change below is what makes it refused.
    verify(base);
    const changes: SignedRequest[] = [
      {
        ...base,
        body: Buffer.from('{"x":2}'),
        headers: { ...base.headers, 'x-amz-content-sha256': undefined },
      },
      { ...base, url: base.url.replace('functions', 'functionz') },
      { ...base, url: base.url.replace('a=1', 'a=2') },
      { ...base, headers: { ...base.headers, 'content-type': 'text/plain' } },
      { ...base, method: 'PUT' },
    ];
    for (const req of changes) expect(refusal(() => verify(req)).kind).toBe('invalid');
    // The declared hash must be the body's.
    const lied = { ...base, body: Buffer.from('{"x":2}') };
    expect(refusal(() => verify(lied)).message).toMatch(/x-amz-content-sha256/);
    // An x-amz-* header added after signing (a captured Invoke replayed as Event, or asking for
    // the log tail) is refused, not ignored.
    for (const added of ['x-amz-invocation-type', 'x-amz-log-type', 'x-amz-client-context']) {
      const replayed = { ...base, headers: { ...base.headers, [added]: 'Event' } };
      expect(refusal(() => verify(replayed)).message).toBe(`SignedHeaders must include "${added}"`);
    }
  });

  it('refuses another secret, another service and a date past 15 minutes either way', async () => {
    const req = await signed({ method: 'GET', path: '/2015-03-31/functions/f' });
    expect(refusal(() => verify(req, AT, 'wrong')).message).toMatch(/does not match/);
    expect(
      refusal(() => verifySignature(req, readCredential(req), { ...credentials, service: 's3', now: AT }))
        .message,
    ).toMatch(/scoped to correct service/);
    verify(req, AT + MAX_CLOCK_SKEW_MS - 1000);
    expect(refusal(() => verify(req, AT + MAX_CLOCK_SKEW_MS + 1000)).message).toMatch(/Signature expired/);
    expect(refusal(() => verify(req, AT - MAX_CLOCK_SKEW_MS - 1000)).message).toMatch(/Signature expired/);
  });

  it('tells a missing Authorization header from a malformed one', async () => {
    const req = await signed({ method: 'GET', path: '/2015-03-31/functions/f' });
    expect(
      refusal(() => readCredential({ ...req, headers: { ...req.headers, authorization: undefined } })).kind,
    ).toBe('missing');
    expect(
      refusal(() => readCredential({ ...req, headers: { ...req.headers, authorization: 'Bearer x' } })).kind,
    ).toBe('invalid');
  });
});
