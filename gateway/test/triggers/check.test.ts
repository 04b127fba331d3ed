/**
 * The checks that keep triggers off NATS's and thaw's own subjects and streams (pure: the
 * real-NATS side is hostile.test.ts): a replySubject of NATS itself is refused by the schema,
 * a stream named like an object store, key-value bucket or thaw's own by checkTriggers, a stream
 * keeping such subjects by streamRefusal (or the trigger's replySubject: replyRefusal), a message
 * on such subjects or at the end of a chain of MAX_TRIGGER_HOPS results by messageRefusal, and a
 * request's unsafe reply subject by ReplyCheck.
 */
import { createLogger, FunctionSpec, type Logger, MAX_TRIGGER_HOPS, TRIGGER_HOPS_HEADER } from '@thaw/shared';
import { headers } from 'nats';
import { describe, expect, it } from 'vitest';
import { checkTriggers } from '../../src/triggers/check.js';
import { hopsOf, messageRefusal } from '../../src/triggers/guard.js';
import { ReplyCheck, unsafeReplySubject } from '../../src/triggers/reply.js';
import { replyRefusal, streamRefusal } from '../../src/triggers/streams.js';

const image = `sha256:${'a'.repeat(64)}`;
const spec = (triggers: unknown[]) => FunctionSpec.safeParse({ name: 'f', image, triggers });

describe('replySubject', () => {
  it('refuses subjects of NATS itself', () => {
    for (const replySubject of ['$O.thaw-images.M.abc', '$JS.API.STREAM.DELETE.X', '$SYS.x', '_INBOX.abc']) {
      const r = spec([{ type: 'nats', subject: 'orders.new', replySubject }]);
      expect(r.success, replySubject).toBe(false);
      expect(JSON.stringify(r.error?.issues)).toMatch(/subjects of NATS itself/);
    }
    expect(spec([{ type: 'nats', subject: 'orders.new', replySubject: 'results.$x' }]).success).toBe(true);
  });
});

describe('a JetStream trigger stream', () => {
  it('is refused at deploy when named like an object store, a key-value bucket or thaw', () => {
    for (const stream of ['OBJ_thaw-images', 'obj_x', 'KV_thaw', 'THAW_calls', 'thaw-x']) {
      const r = spec([{ type: 'jetstream', stream }]);
      expect(r.success).toBe(true);
      expect(() => checkTriggers(r.data as FunctionSpec, 'thaw'), stream).toThrow(
        /triggers\[0\]\.stream: stream .* (object store|named like thaw's own)/,
      );
    }
    const ok = spec([{ type: 'jetstream', stream: 'ORDERS' }]);
    expect(() => checkTriggers(ok.data as FunctionSpec, 'thaw')).not.toThrow();
  });

  it('is refused when it keeps subjects of NATS or thaw, or copies a refused stream', () => {
    const c = (subjects: string[], more = {}) => streamRefusal({ name: 'S', subjects, ...more }, 'thaw');
    expect(c(['$O.imgs.C.>'])).toMatch(/NATS itself/);
    expect(c(['orders.>', '*.>'])).toMatch(/NATS itself/);
    expect(c(['>'])).toMatch(/NATS itself/);
    expect(c(['_INBOX.>'])).toMatch(/NATS itself/);
    expect(c(['_INBOX_x.*'])).toMatch(/NATS itself/);
    expect(c(['thaw.invoke.>'])).toMatch(/thaw's own subjects/);
    expect(c(['thaw'])).toBeUndefined();
    expect(c([], { mirror: { name: 'OBJ_thaw-images' } })).toMatch(/copies another/);
    expect(c([], { sources: [{ name: 'KV_x' }] })).toMatch(/copies another/);
    expect(c(['orders.>', 'payments.*'])).toBeUndefined();
  });

  it("is refused when it keeps the trigger's replySubject and the trigger has no filter", () => {
    const config = { name: 'S', subjects: ['orders.>'] };
    expect(replyRefusal(config, { replySubject: 'orders.done' })).toMatch(/kept by stream "S"/);
    expect(
      replyRefusal(config, { replySubject: 'orders.done', filterSubject: 'orders.new' }),
    ).toBeUndefined();
    expect(replyRefusal(config, { replySubject: 'results.done' })).toBeUndefined();
    expect(replyRefusal(config, {})).toBeUndefined();
  });
});

describe('a message on a trigger', () => {
  it('is not called on subjects of NATS or thaw, nor at MAX_TRIGGER_HOPS', () => {
    expect(messageRefusal('orders.new', 0, 'thaw')).toBeUndefined();
    expect(messageRefusal('orders.new', MAX_TRIGGER_HOPS - 1, 'thaw')).toBeUndefined();
    expect(messageRefusal('orders.new', MAX_TRIGGER_HOPS, 'thaw')).toMatch(/a loop\?/);
    expect(messageRefusal('_INBOX.abc.1', 0, 'thaw')).toMatch(/NATS itself/);
    expect(messageRefusal('$JS.API.INFO', 0, 'thaw')).toMatch(/NATS itself/);
    expect(messageRefusal('thaw.invoke.f', 0, 'thaw')).toMatch(/thaw's own/);
    expect(messageRefusal('thaw', 0, 'thaw')).toMatch(/thaw's own/);
  });

  it('carries its hop count in thaw-trigger-hops (0 when none or not a count)', () => {
    const h = (v?: string) => {
      const hs = headers();
      if (v !== undefined) hs.set(TRIGGER_HOPS_HEADER, v);
      return hopsOf(hs);
    };
    expect([h(), h('3'), h('-2'), h('x'), h('')]).toEqual([0, 3, 0, 0, 0]);
    expect(hopsOf(undefined)).toBe(0);
  });
});

describe('a reply subject chosen by a publisher', () => {
  it('is refused under thaw, of NATS, with wildcards, or listened on; an inbox is fine', () => {
    const heard = ['orders.*'];
    expect(unsafeReplySubject('_INBOX.abc.1', 'thaw', heard)).toBeUndefined();
    expect(unsafeReplySubject('results.orders', 'thaw', heard)).toBeUndefined();
    expect(unsafeReplySubject('thaw.functions.removed', 'thaw', heard)).toMatch(/thaw's own/);
    expect(unsafeReplySubject('thaw', 'thaw', heard)).toMatch(/thaw's own/);
    expect(unsafeReplySubject('$JS.API.STREAM.DELETE.X', 'thaw', heard)).toMatch(/NATS itself/);
    expect(unsafeReplySubject('a.*', 'thaw', heard)).toMatch(/plain/);
    expect(unsafeReplySubject('a b', 'thaw', heard)).toMatch(/plain/);
    expect(unsafeReplySubject('orders.new', 'thaw', heard)).toMatch(/listens on/);
  });

  it('is dropped with one warning per 10 s', () => {
    const warned: string[] = [];
    const log = createLogger('check-test', 'silent');
    log.warn = ((_o: unknown, msg?: string) => {
      warned.push(msg ?? '');
    }) as Logger['warn'];
    const check = new ReplyCheck({ fn: 'f', prefix: 'thaw', heard: [], log });
    expect(check.filter(['_INBOX.a', 'thaw.x', undefined, 'res'])).toEqual(['_INBOX.a', 'res']);
    expect(check.filter(['thaw.y'])).toEqual([]);
    expect(warned).toEqual(['trigger result not published to "thaw.x": one of thaw\'s own subjects']);
  });
});
