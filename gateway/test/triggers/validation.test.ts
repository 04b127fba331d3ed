/**
 * A deploy or update whose trigger listens on, or publishes into, thaw's own subjects or NATS's,
 * or reads an object store's, a key-value bucket's or thaw's stream, is refused with
 * VALIDATION_FAILED (400) before anything is stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApp, type TestApp } from '../test-app.js';

let t: TestApp;
beforeAll(async () => {
  t = await openTestApp({ tag: 'trgval' });
});
afterAll(async () => {
  await t?.close();
});

const image = `sha256:${'a'.repeat(64)}`;

describe("triggers on thaw's own subjects", () => {
  it('are refused at deploy', async () => {
    for (const trigger of [
      { type: 'nats', subject: '*.invoke.>' },
      { type: 'nats', subject: `${t.prefix}.functions.changed` },
      { type: 'nats', subject: 'orders', replySubject: `${t.prefix}.invoke.victim` },
      { type: 'jetstream', stream: 'S', filterSubject: `${t.prefix}.>` },
    ]) {
      const res = await t.inject({
        method: 'POST',
        url: '/v1/functions',
        payload: { name: 'trg', image, triggers: [trigger] },
      });
      expect(res.statusCode, JSON.stringify(trigger)).toBe(400);
      expect(res.json()).toMatchObject({
        error: { code: 'VALIDATION_FAILED', message: expect.stringMatching(/thaw's own subjects/) },
      });
    }
    expect((await t.inject({ method: 'GET', url: '/v1/functions/trg' })).statusCode).toBe(404);
  });

  it('are refused at update', async () => {
    const res = await t.inject({
      method: 'PUT',
      url: '/v1/functions/trg',
      payload: { name: 'trg', image, triggers: [{ type: 'nats', subject: '>.x' }] },
    });
    // A bad subject shape is the schema's refusal; ours is for one that parses.
    expect(res.statusCode).toBe(400);
    const ours = await t.inject({
      method: 'PUT',
      url: '/v1/functions/trg',
      payload: { name: 'trg', image, triggers: [{ type: 'nats', subject: `${t.prefix}.*.x` }] },
    });
    expect(ours.statusCode).toBe(400);
    expect(ours.json()).toMatchObject({
      error: { code: 'VALIDATION_FAILED', message: expect.stringMatching(/thaw's own subjects/) },
    });
  });
});

describe("triggers on NATS's subjects and thaw's streams", () => {
  it('are refused at deploy', async () => {
    for (const [trigger, message] of [
      [{ type: 'nats', subject: 'orders', replySubject: '$O.thaw-images.M.abc' }, /NATS itself/],
      [{ type: 'nats', subject: 'orders', replySubject: '_INBOX.abc' }, /NATS itself/],
      [{ type: 'jetstream', stream: 'OBJ_thaw-images' }, /triggers\[0\]\.stream: .*object store/],
      [{ type: 'jetstream', stream: 'kv_functions' }, /triggers\[0\]\.stream: .*key-value bucket/],
      [{ type: 'jetstream', stream: `${t.prefix.toUpperCase()}_X` }, /named like thaw's own/],
    ] as const) {
      const res = await t.inject({
        method: 'POST',
        url: '/v1/functions',
        payload: { name: 'trg2', image, triggers: [trigger] },
      });
      expect(res.statusCode, JSON.stringify(trigger)).toBe(400);
      expect(res.json()).toMatchObject({
        error: { code: 'VALIDATION_FAILED', message: expect.stringMatching(message) },
      });
    }
    expect((await t.inject({ method: 'GET', url: '/v1/functions/trg2' })).statusCode).toBe(404);
  });
});
