/**
 * The pure parts of triggers: a message as a call, a call's result as a message, which outcomes
 * a JetStream message is settled by, the retry delays, and the subjects refused at deploy.
 */
import { ThawError } from '@thaw/shared';
import { headers } from 'nats';
import { describe, expect, it } from 'vitest';
import { checkTriggers, subjectsOverlap } from '../../src/triggers/check.js';
import { envelopeOf, resultOf, retryDelay, settled } from '../../src/triggers/mapping.js';
import { triggerName } from '../../src/triggers/triggers.js';

describe('a message as a call', () => {
  it('is a POST to the path with the data as body, the subject and every header forwarded', () => {
    const h = headers();
    h.set('Content-Type', 'application/json');
    h.set('Nats-Msg-Id', 'm1');
    h.append('Tag', 'a');
    h.append('Tag', 'b');
    const env = envelopeOf(
      { subject: 'orders.eu', data: Buffer.from('{"n":1}'), headers: h },
      '/orders?x=1',
      {
        type: 'nats',
      },
    );
    expect(env).toMatchObject({ method: 'POST', path: '/orders', query: 'x=1' });
    expect(env.body.toString()).toBe('{"n":1}');
    expect(env.headers).toEqual({
      'x-thaw-trigger': 'nats',
      'x-nats-subject': 'orders.eu',
      'content-type': 'application/json',
      'x-nats-header-content-type': 'application/json',
      'x-nats-header-nats-msg-id': 'm1',
      'x-nats-header-tag': ['a', 'b'],
    });
  });

  it('carries the stream, sequence and delivery of a JetStream message; no headers, no content type', () => {
    const env = envelopeOf({ subject: 's.1', data: new Uint8Array() }, '/', {
      type: 'jetstream',
      stream: 'ORDERS',
      sequence: 42,
      delivery: 3,
    });
    expect(env.headers).toEqual({
      'x-thaw-trigger': 'jetstream',
      'x-nats-subject': 's.1',
      'x-nats-stream': 'ORDERS',
      'x-nats-sequence': '42',
      'x-nats-delivery': '3',
    });
    expect(env).toMatchObject({ path: '/', query: '' });
  });

  it('drops header names that are no HTTP token', () => {
    const h = headers();
    h.set('ok', '1');
    h.set('a@b', '2');
    const env = envelopeOf({ subject: 's', data: new Uint8Array(), headers: h }, '/', { type: 'nats' });
    expect(Object.keys(env.headers).filter((k) => k.startsWith('x-nats-header-'))).toEqual([
      'x-nats-header-ok',
    ]);
  });
});

describe("a call's result as a message", () => {
  it("is the function's answer body with its status, function, source subject and content type", () => {
    const r = resultOf('fn1', 'orders.eu', {
      status: 201,
      headers: { 'content-type': 'text/plain' },
      body: Buffer.from('done'),
    });
    expect(r.data.toString()).toBe('done');
    expect(r.headers.get('thaw-status')).toBe('201');
    expect(r.headers.get('thaw-function')).toBe('fn1');
    expect(r.headers.get('thaw-source-subject')).toBe('orders.eu');
    expect(r.headers.get('content-type')).toBe('text/plain');
    expect(r.headers.has('thaw-error')).toBe(false);
  });

  it("is the error's body with its code in thaw-error for a platform failure", () => {
    const r = resultOf('fn1', 's', new ThawError('WORKER_LOST'));
    expect(r.headers.get('thaw-status')).toBe('502');
    expect(r.headers.get('thaw-error')).toBe('WORKER_LOST');
    expect(JSON.parse(r.data.toString())).toMatchObject({ error: { code: 'WORKER_LOST' } });
  });
});

describe('JetStream settling and retries', () => {
  const answer = (status: number) => ({ status, headers: {}, body: Buffer.alloc(0) });
  it('acks what the function answered 2xx-4xx, retries 5xx, 429 and platform failures', () => {
    expect([200, 204, 302, 400, 404].map((s) => settled(answer(s)))).toEqual([true, true, true, true, true]);
    expect([429, 500, 503].map((s) => settled(answer(s)))).toEqual([false, false, false]);
    for (const code of ['WORKER_LOST', 'NO_WORKER', 'FUNCTION_TIMEOUT', 'OVERLOADED'] as const) {
      expect(settled(new ThawError(code))).toBe(false);
    }
    expect(settled(new ThawError('FUNCTION_NOT_FOUND'))).toBe(true);
  });

  it('waits 1 s, 2 s, 4 s ... up to 30 s, a quarter either way', () => {
    expect([1, 2, 3, 5, 6, 20].map((d) => retryDelay(d, () => 0.5))).toEqual([
      1000, 2000, 4000, 16_000, 30_000, 30_000,
    ]);
    expect(retryDelay(1, () => 0)).toBe(750);
    expect(retryDelay(1, () => 1)).toBe(1250);
  });
});

describe('subjects refused', () => {
  it('finds overlaps through wildcards', () => {
    expect(subjectsOverlap('thaw.invoke.x', 'thaw.>')).toBe(true);
    expect(subjectsOverlap('*.invoke.>', 'thaw.>')).toBe(true);
    expect(subjectsOverlap('*', 'thaw.>')).toBe(false);
    expect(subjectsOverlap('thaw', 'thaw.>')).toBe(false);
    expect(subjectsOverlap('orders.>', 'thaw.>')).toBe(false);
    expect(subjectsOverlap('a.*.c', 'a.b.*')).toBe(true);
    expect(subjectsOverlap('a.b', 'a.b.c')).toBe(false);
  });

  const nats = (subject: string, replySubject?: string) => ({
    type: 'nats' as const,
    subject,
    path: '/',
    ...(replySubject ? { replySubject } : {}),
  });
  const js = (stream: string, filterSubject?: string) => ({
    type: 'jetstream' as const,
    stream,
    maxDeliver: 5,
    path: '/',
    ...(filterSubject ? { filterSubject } : {}),
  });

  it("refuses triggers on or into thaw's own subjects, results into their own subjects, and two on one consumer", () => {
    const refused = (triggers: Parameters<typeof checkTriggers>[0]['triggers']) => {
      try {
        checkTriggers({ triggers }, 'thaw');
      } catch (err) {
        return err instanceof ThawError ? err.code : String(err);
      }
      return 'accepted';
    };
    expect(refused([nats('orders.>', 'results'), js('ORDERS', 'orders.eu'), js('ORDERS')])).toBe('accepted');
    expect(refused([nats('*.invoke.>')])).toBe('VALIDATION_FAILED');
    expect(refused([nats('thaw.functions.changed')])).toBe('VALIDATION_FAILED');
    expect(refused([nats('orders', 'thaw.invoke.fn')])).toBe('VALIDATION_FAILED');
    expect(refused([js('S', 'thaw.>')])).toBe('VALIDATION_FAILED');
    expect(refused([js('S', 'a'), js('S', 'a')])).toBe('VALIDATION_FAILED');
    expect(refused([nats('orders.*', 'orders.results')])).toBe('VALIDATION_FAILED');
    expect(refused([nats('orders.*', 'results.orders'), js('S', 'results.>')])).toBe('VALIDATION_FAILED');
  });
});

describe('trigger names', () => {
  it('keep a JetStream consumer through a new path, and are names NATS takes', () => {
    const a = triggerName('thaw.t', 'fn', { type: 'jetstream', stream: 'S', maxDeliver: 5, path: '/a' });
    const b = triggerName('thaw.t', 'fn', { type: 'jetstream', stream: 'S', maxDeliver: 2, path: '/b' });
    const c = triggerName('thaw.t', 'fn', { type: 'jetstream', stream: 'T', maxDeliver: 5, path: '/a' });
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    expect(a).toMatch(/^[A-Za-z0-9_-]+$/);
  });
});
