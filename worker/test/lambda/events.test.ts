import type { InvokeRequest } from '@thaw/shared';
import { describe, expect, it } from 'vitest';
import { answerableStatus, fromApiGatewayResult, toApiGatewayEvent } from '../../src/lambda/events.js';

function request(over: Partial<InvokeRequest> = {}): InvokeRequest {
  return { method: 'GET', path: '/', query: '', headers: {}, body: new Uint8Array(), ...over };
}

const ctx = { requestId: 'r-1', functionName: 'fn', now: Date.UTC(2026, 11, 6, 7, 24, 12) };

describe('toApiGatewayEvent (payload format 2.0)', () => {
  it('maps path, query, headers and cookies as API Gateway v2 does', () => {
    const e = toApiGatewayEvent(
      request({
        method: 'POST',
        path: '/a/b',
        query: 'x=1&y=2&x=3',
        headers: {
          Host: 'api.example.com',
          'x-multi': ['1', '2'],
          cookie: 'a=1; b=2',
          'user-agent': 'curl/8',
          'x-forwarded-for': '10.1.2.3, 10.0.0.1',
        },
      }),
      ctx,
    );
    expect(e).toMatchObject({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/a/b',
      rawQueryString: 'x=1&y=2&x=3',
      cookies: ['a=1', 'b=2'],
      headers: { host: 'api.example.com', 'x-multi': '1,2', 'user-agent': 'curl/8' },
      queryStringParameters: { x: '1,3', y: '2' },
      isBase64Encoded: false,
      requestContext: {
        apiId: 'fn',
        domainName: 'api.example.com',
        domainPrefix: 'api',
        requestId: 'r-1',
        stage: '$default',
        time: '06/Dec/2026:07:24:12 +0000',
        timeEpoch: ctx.now,
        http: { method: 'POST', path: '/a/b', sourceIp: '10.1.2.3', userAgent: 'curl/8' },
      },
    });
    expect(e.headers.cookie).toBeUndefined();
    expect(e.body).toBeUndefined();
  });

  it('passes a text body as is and any other base64-encoded', () => {
    const json = toApiGatewayEvent(
      request({ headers: { 'content-type': 'application/json' }, body: Buffer.from('{"a":1}') }),
      ctx,
    );
    expect(json).toMatchObject({ body: '{"a":1}', isBase64Encoded: false });
    const bin = toApiGatewayEvent(
      request({ headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from([0, 1, 255]) }),
      ctx,
    );
    expect(bin).toMatchObject({ body: 'AAH/', isBase64Encoded: true });
  });
});

describe('fromApiGatewayResult', () => {
  it('uses statusCode, headers, cookies and a base64 body', () => {
    const r = fromApiGatewayResult(
      Buffer.from(
        JSON.stringify({
          statusCode: 418,
          headers: { 'Content-Type': 'text/plain', 'X-N': 5 },
          cookies: ['a=1', 'b=2'],
          body: Buffer.from('teapot').toString('base64'),
          isBase64Encoded: true,
        }),
      ),
    );
    expect(r).toMatchObject({
      status: 418,
      headers: { 'content-type': 'text/plain', 'x-n': '5', 'set-cookie': ['a=1', 'b=2'] },
    });
    expect(r.body.toString()).toBe('teapot');
  });

  it('answers anything without a statusCode as a 200 JSON body, unchanged', () => {
    for (const payload of ['{"plain":true}', '"hello"', '[1,2]', 'null', 'not json']) {
      const r = fromApiGatewayResult(Buffer.from(payload));
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.body.toString()).toBe(payload);
    }
  });

  it('drops hop-by-hop headers and tells answerable statuses from others', () => {
    const r = fromApiGatewayResult(
      Buffer.from(
        JSON.stringify({
          statusCode: 200,
          headers: { 'Transfer-Encoding': 'chunked', Connection: 'upgrade', Upgrade: 'h2c', 'X-Ok': '1' },
        }),
      ),
    );
    expect(r.headers).toEqual({ 'x-ok': '1' });
    expect([200, 404, 599].every(answerableStatus)).toBe(true);
    expect([101, 199, 600, 1000, 200.5, Number.NaN].some(answerableStatus)).toBe(false);
  });

  it('gives an empty body when the result has none, and a non-string body as JSON', () => {
    expect(fromApiGatewayResult(Buffer.from('{"statusCode":204}')).body.length).toBe(0);
    expect(fromApiGatewayResult(Buffer.from('{"statusCode":200,"body":{"a":1}}')).body.toString()).toBe(
      '{"a":1}',
    );
  });
});
