/**
 * The Invoker reads the worker's cold-start flag (`thaw-cold`) into `Answer.cold`, through a
 * real nats-server and the real Caller, with a stand-in worker that replies as the worker does.
 */
import { type Service, startNats } from '@thaw/devkit';
import { encodeAccepted, encodeInvokeReply, FunctionRecord, subjects } from '@thaw/shared';
import { connect, headers, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Caller } from '../../src/calls/caller.js';
import { Invoker } from '../../src/calls/invoker.js';

let nats: Service;
let nc: NatsConnection;
const subj = subjects(`inv${process.pid}`);

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
});
afterAll(async () => {
  await nc?.close();
  await nats?.close();
});

const fn = FunctionRecord.parse({
  name: 'coldy',
  image: 'example.com/x:1',
  createdAt: 'now',
  updatedAt: 'now',
});

describe('Invoker: the cold flag', () => {
  it('sets answer.cold for a reply the worker flagged cold, and leaves a warm one without it', async () => {
    // The stand-in's first reply is cold (as after a scale to zero), the next ones warm.
    let calls = 0;
    const accepted = headers();
    encodeAccepted('w1', accepted);
    nc.subscribe(subj.invoke(fn.name), {
      callback: (_e, msg) => {
        msg.respond(new Uint8Array(0), { headers: accepted });
        const h = headers();
        const data = encodeInvokeReply({ ok: true, status: 200, headers: {}, body: Buffer.from('hi') }, h, {
          cold: ++calls === 1,
        });
        msg.respond(data, { headers: h });
      },
    });
    await nc.flush();
    const caller = new Caller({ nc, liveness: { alive: () => true, graceMs: () => 1000 } });
    const placer = { placeCurrent: async () => fn, relieve: async () => false, spread: () => undefined };
    const invoker = new Invoker({ caller, placer, subjects: subj });
    const env = { method: 'GET', path: '/', query: '', headers: {}, body: Buffer.alloc(0) };
    const first = await invoker.invoke(fn, env);
    expect(first.cold).toBe(true);
    expect(first.body.toString()).toBe('hi');
    const second = await invoker.invoke(fn, env);
    expect('cold' in second).toBe(false);
    caller.close();
  });
});
