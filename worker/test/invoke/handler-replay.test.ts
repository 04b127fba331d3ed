/**
 * InvokeHandler on a real nats-server, with a stand-in pool: a resent copy of a call it already
 * answered is not run again, and gets the stored answer again (the first may have been lost).
 */
import { type Service, startNats } from '@thaw/devkit';
import { encodeInvokeRequest, type InvokeRequest } from '@thaw/shared';
import { connect, createInbox, headers, type Msg, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvokeHandler } from '../../src/invoke/handler.js';
import type { FunctionHost } from '../../src/pool/function-host.js';

let nats: Service;
let nc: NatsConnection;

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
});
afterAll(async () => {
  await nc?.close();
  await nats?.close();
});

describe('InvokeHandler', () => {
  it('answers a copy of a call it already answered with the stored answer, without running it', async () => {
    let runs = 0;
    // Only what the handler reads of a pool: invoke() and saturated.
    const pool = {
      saturated: false,
      invoke: async () => {
        runs++;
        return { ok: true, status: 200, headers: {}, body: new TextEncoder().encode(`run ${runs}`) };
      },
    } as unknown as FunctionHost;
    const handler = new InvokeHandler({ workerId: 'w1' });
    const subject = `handler-test.${process.pid}`;
    const sub = nc.subscribe(subject, { callback: (_e, m) => void handler.handle(m, () => pool) });
    const inbox = createInbox();
    const answers: Msg[] = [];
    let arrived: () => void = () => undefined;
    nc.subscribe(inbox, {
      callback: (_e, m) => {
        if (m.data.length) answers.push(m);
        arrived();
      },
    });
    const req: InvokeRequest = { method: 'POST', path: '/', query: '', headers: {}, body: new Uint8Array(0) };
    const h = headers();
    const body = encodeInvokeRequest(req, h);
    // Until the n-th answer, or 2 s (then the expectations below say what was missing).
    const answered = (n: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        arrived = () => {
          if (answers.length < n) return;
          clearTimeout(timer);
          resolve();
        };
      });
    let next = answered(1);
    nc.publish(subject, body, { reply: inbox, headers: h });
    await next;
    next = answered(2);
    nc.publish(subject, body, { reply: inbox, headers: h }); // the gateway's resend
    await next;
    expect(answers.map((m) => new TextDecoder().decode(m.data))).toEqual(['run 1', 'run 1']);
    expect(answers[1]?.headers?.get('thaw-status')).toBe('200');
    expect(runs).toBe(1);
    sub.unsubscribe();
  });
});
