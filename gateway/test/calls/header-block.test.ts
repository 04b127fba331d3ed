/**
 * The gateway's request headers written as a HeaderBlock, published by nats.js through a real
 * nats-server and read back by nats.js on the other side as the worker reads them.
 */
import { type Service, startNats } from '@thaw/devkit';
import {
  askTiming,
  decodeInvokeRequest,
  encodeInvokeRequest,
  HeaderBlock,
  type InvokeRequest,
  timingAsked,
} from '@thaw/shared';
import { connect, type Msg, type MsgHdrs, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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

/** Publishes `block` with `body` and returns the message as a subscriber gets it. */
async function roundTrip(block: HeaderBlock, body: Uint8Array): Promise<Msg> {
  const sub = nc.subscribe('w4.block', { max: 1 });
  nc.publish('w4.block', body, { headers: block as unknown as MsgHdrs });
  for await (const msg of sub) return msg;
  throw new Error('no message');
}

describe('HeaderBlock', () => {
  it('carries an invoke request through nats-server as nats.js headers would', async () => {
    const req: InvokeRequest = {
      method: 'PATCH',
      path: '/a/b',
      query: 'x=1&y=%20',
      headers: { 'x-one': '1', 'set-cookie': ['a=1', 'b=2'], 'x-json': '{"k":"v\\r\\n"}' },
      body: Buffer.from('payload'),
      lambdaEvent: true,
    };
    const block = new HeaderBlock();
    const msg = await roundTrip(block, encodeInvokeRequest(req, block));
    expect(decodeInvokeRequest(msg.headers, msg.data)).toEqual({ ...req, body: msg.data });
    expect(Buffer.from(msg.data).toString()).toBe('payload');
  });

  it('answers get() for what it holds, and refuses a value with a line break', async () => {
    const block = new HeaderBlock();
    block.set('thaw-method', 'GET');
    askTiming(block);
    expect(block.get('thaw-method')).toBe('GET');
    expect(block.get('thaw-path')).toBe('');
    expect(timingAsked(block)).toBe(true);
    expect(timingAsked((await roundTrip(block, new Uint8Array())).headers)).toBe(true);
    expect(() => block.set('thaw-path', '/x\r\nthaw-error: INTERNAL')).toThrow(/line break/);
  });
});
