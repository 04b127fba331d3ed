import { describe, expect, it } from 'vitest';
import { InvokeHeader } from '../src/subjects.js';
import {
  acceptedBy,
  decodeInvokeReply,
  decodeInvokeRequest,
  encodeAccepted,
  encodeInvokeReply,
  encodeInvokeRequest,
  failureError,
  isSaturated,
  type WireHeaders,
  wireError,
} from '../src/wire/invoke.js';

/** Headers as nats.js keeps them: in insertion order, "" for a missing one. */
class FakeHeaders implements WireHeaders {
  readonly entries: [string, string][] = [];
  get(name: string): string {
    return this.entries.find(([k]) => k === name)?.[1] ?? '';
  }
  set(name: string, value: string): void {
    this.entries.push([name, value]);
  }
}

const text = (b: Uint8Array) => Buffer.from(b).toString();

describe('invoke request', () => {
  it('puts the HTTP request in headers, in the order the worker has always read them', () => {
    const h = new FakeHeaders();
    const body = Buffer.from('hi');
    const data = encodeInvokeRequest(
      { method: 'POST', path: '/a', query: 'x=1', headers: { 'x-a': '1', 'set-cookie': ['a', 'b'] }, body },
      h,
    );
    expect(data).toBe(body);
    expect(h.entries).toEqual([
      ['thaw-method', 'POST'],
      ['thaw-path', '/a'],
      ['thaw-query', 'x=1'],
      ['thaw-headers', '{"x-a":"1","set-cookie":["a","b"]}'],
    ]);
    expect(decodeInvokeRequest(h, data)).toEqual({
      method: 'POST',
      path: '/a',
      query: 'x=1',
      headers: { 'x-a': '1', 'set-cookie': ['a', 'b'] },
      body,
    });
  });

  it('drops hop-by-hop headers on decoding and defaults the path to "/"', () => {
    const h = new FakeHeaders();
    h.set(InvokeHeader.method, 'GET');
    h.set(InvokeHeader.headers, JSON.stringify({ connection: 'x-b', 'x-b': '1', host: 'h', 'x-c': '2' }));
    expect(decodeInvokeRequest(h, new Uint8Array())).toMatchObject({
      method: 'GET',
      path: '/',
      query: '',
      headers: { 'x-c': '2' },
    });
  });

  it('refuses an envelope without a method or with headers that are not JSON', () => {
    expect(decodeInvokeRequest(undefined, new Uint8Array())).toBeUndefined();
    expect(decodeInvokeRequest(new FakeHeaders(), new Uint8Array())).toBeUndefined();
    const h = new FakeHeaders();
    h.set(InvokeHeader.method, 'GET');
    h.set(InvokeHeader.headers, '{nope');
    expect(decodeInvokeRequest(h, new Uint8Array())).toBeUndefined();
  });
});

describe('invoke reply', () => {
  it('carries an answer: status and headers in headers, the body as payload', () => {
    const h = new FakeHeaders();
    const data = encodeInvokeReply(
      { ok: true, status: 201, headers: { 'x-r': '1' }, body: Buffer.from('ok') },
      h,
    );
    expect(h.entries).toEqual([
      ['thaw-status', '201'],
      ['thaw-headers', '{"x-r":"1"}'],
    ]);
    const back = decodeInvokeReply(h, data);
    expect(back).toEqual({ ok: true, status: 201, headers: { 'x-r': '1' }, body: Buffer.from('ok') });
    expect(isSaturated(h)).toBe(false);
  });

  it('carries a failure: the code in a header, the message as payload', () => {
    const h = new FakeHeaders();
    const data = encodeInvokeReply({ ok: false, code: 'OVERLOADED', message: 'full' }, h, {
      saturated: true,
    });
    expect(h.entries).toEqual([
      ['thaw-error', 'OVERLOADED'],
      ['thaw-saturated', '1'],
    ]);
    expect(text(data)).toBe('full');
    expect(isSaturated(h)).toBe(true);
    const back = decodeInvokeReply(h, data);
    expect(back).toEqual({ ok: false, code: 'OVERLOADED', message: 'full' });
    if (back.ok) throw new Error('unreachable');
    const err = failureError(back);
    expect([err.code, err.message, err.status]).toEqual(['OVERLOADED', 'full', 429]);
  });

  it('reads a reply without a status as 502 and an unknown code as INTERNAL', () => {
    expect(decodeInvokeReply(undefined, new Uint8Array())).toMatchObject({
      ok: true,
      status: 502,
      headers: {},
    });
    const h = new FakeHeaders();
    h.set(InvokeHeader.error, 'FROM_THE_FUTURE');
    expect(decodeInvokeReply(h, Buffer.from('odd'))).toEqual({ ok: false, code: 'INTERNAL', message: 'odd' });
  });

  it('views the payload instead of copying it', () => {
    const data = Buffer.from('xxbodyxx').subarray(2, 6);
    const back = decodeInvokeReply(new FakeHeaders(), data);
    if (!back.ok) throw new Error('unreachable');
    expect(back.body.buffer).toBe(data.buffer);
    expect(back.body.toString()).toBe('body');
  });
});

describe('acceptance and wire errors', () => {
  it('names the worker that took the call', () => {
    const h = new FakeHeaders();
    encodeAccepted('w-1', h);
    expect(h.entries).toEqual([['thaw-accepted', 'w-1']]);
    expect(acceptedBy(h)).toBe('w-1');
    expect(acceptedBy(new FakeHeaders())).toBeUndefined();
    expect(acceptedBy(undefined)).toBeUndefined();
  });

  it('keeps known codes and gives an empty message the catalogue text', () => {
    expect(wireError('NO_WORKER', 'gone').code).toBe('NO_WORKER');
    const e = wireError('???', '');
    expect([e.code, e.message]).toEqual(['INTERNAL', 'Internal error.']);
  });
});
