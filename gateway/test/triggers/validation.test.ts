/**
 * A deploy or update whose trigger listens on, or publishes into, thaw's own subjects is refused
 * with VALIDATION_FAILED (400) before anything is stored.
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
