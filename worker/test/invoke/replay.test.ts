/**
 * The Replayer on a real nats-server: a gateway's replay request gets back the answers this
 * worker still holds (headers included) and nothing for the others; the worker's own reconnect
 * re-sends the answers sent shortly before it dropped.
 */
import { type Service, startNats } from '@thaw/devkit';
import { HeaderBlock } from '@thaw/shared';
import { connect, type Msg, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Replayer } from '../../src/invoke/replay.js';
import { ReplyStore } from '../../src/invoke/replies.js';

let nats: Service;
let gw: NatsConnection;
let wk: NatsConnection;
const subject = `replay-test.${process.pid}`;

beforeAll(async () => {
  nats = await startNats();
  gw = await connect({ servers: nats.url });
  wk = await connect({ servers: nats.url, reconnectTimeWait: 50, maxReconnectAttempts: -1 });
});
afterAll(async () => {
  await gw?.close();
  await wk?.close();
  await nats?.close();
});

/** Messages arriving on `inbox.*` until `n` came or `ms` passed. */
function collect(inbox: string, n: number, ms = 3000): Promise<Msg[]> {
  const got: Msg[] = [];
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(), ms);
    const sub = gw.subscribe(`${inbox}.*`, {
      callback: (_e, msg) => {
        got.push(msg);
        if (got.length >= n) done();
      },
    });
    const done = () => {
      clearTimeout(timer);
      sub.unsubscribe();
      resolve(got);
    };
  });
}

function answer(text: string) {
  const h = new HeaderBlock();
  h.set('thaw-status', '200');
  return { data: new TextEncoder().encode(text), h };
}

describe('Replayer', () => {
  it("re-sends the answers it holds for a gateway's inboxes, and only those", async () => {
    const store = new ReplyStore();
    const replayer = new Replayer({ nc: wk, subject, store });
    const sub = replayer.start();
    const a = answer('a');
    store.add('_R1.a', a.data, a.h);
    const b = answer('b');
    store.add('_R1.b', b.data, b.h);
    await wk.flush();
    // Waits for a second message that must not come (b was not asked for).
    const got = collect('_R1', 2, 500);
    await gw.flush();
    gw.publish(subject, '_R1.a\n_R1.zzz\n\n');
    const msgs = await got;
    expect(
      msgs.map((m) => [m.subject, new TextDecoder().decode(m.data), m.headers?.get('thaw-status')]),
    ).toEqual([['_R1.a', 'a', '200']]);
    replayer.stop();
    sub.unsubscribe();
  });

  it('re-sends on its own reconnect the answers sent shortly before the connection dropped', async () => {
    const store = new ReplyStore();
    const replayer = new Replayer({ nc: wk, subject, store });
    const sub = replayer.start();
    for (const id of ['x', 'y']) {
      const r = answer(id);
      store.add(`_R2.${id}`, r.data, r.h);
    }
    const got = collect('_R2', 2);
    await gw.flush();
    await wk.reconnect();
    const msgs = await got;
    expect(msgs.map((m) => m.subject).sort()).toEqual(['_R2.x', '_R2.y']);
    replayer.stop();
    sub.unsubscribe();
  });
});
