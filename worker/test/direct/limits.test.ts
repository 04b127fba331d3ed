/**
 * What a peer cannot do to the worker's end of the direct link (the review of issue #13), on a
 * real nats-server and real sockets with a stand-in pool: a call id that is not a NATS subject
 * closes the link; pings are answered and a silent link is closed; connections without a hello
 * are capped apart from links, so silent sockets cannot lock gateways out; close() delivers the
 * replies it wrote.
 */
import { connect as connectTcp, type Socket } from 'node:net';
import { decodeInvokeReply, encodeSignal, FrameType } from '@thaw/shared';
import { describe, expect, it } from 'vitest';
import { callFrame, EXPECT_WITHIN_MS, hello, type RawLink } from './raw-link.js';
import { FN, standInPool, useDirectServerRig } from './rig.js';

const rig = useDirectServerRig('limits');
const { serve, open, close } = rig;

/** Whether `link` is served: a call gets accepted and answered. */
async function served(link: RawLink, id: string): Promise<number[]> {
  const before = link.frames.length;
  link.send(callFrame(id, FN, 'x'));
  return (await link.next(before + 2)).slice(before).map((f) => f.type);
}

const SERVED = [FrameType.accepted, FrameType.reply];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('DirectServer: call ids', () => {
  it('closes the link on a call id that is not a NATS subject: nothing runs, nothing is published', async () => {
    const { pool, runs, release } = standInPool({ hold: true });
    const { at } = await serve(pool);
    const injected: string[] = [];
    for (const subject of ['s17r.injected', 's17r.sink', 's17r.sink2']) {
      rig.nc.subscribe(subject, { callback: () => injected.push(subject) });
    }
    await rig.nc.flush();
    const link = await open(at.port);
    const id = 's17r.sink 12 12\r\nNATS/1.0\r\n\r\n\r\nPUB s17r.injected 2\r\nhi\r\nHPUB s17r.sink2';
    link.send(hello(at.token), callFrame(id, FN, 'x'));
    const closedByWorker = await link.closedByWorker();
    // Had the call been taken, its answer would now go to NATS at the id: the link is gone.
    link.destroy();
    release();
    await sleep(200);
    await rig.nc.flush();
    expect(closedByWorker).toBe(true);
    expect(link.frames).toEqual([]);
    expect(runs).toHaveLength(0);
    expect(injected).toEqual([]);
  });
});

describe('DirectServer: liveness', () => {
  it('answers a ping with a pong once the hello came, and refuses a ping before it', async () => {
    const { at } = await serve(standInPool().pool);
    const link = await open(at.port);
    link.send(hello(at.token), encodeSignal(FrameType.ping, ''));
    expect(await link.next(1)).toEqual([{ type: FrameType.pong, id: '' }]);
    const early = await open(at.port);
    early.send(encodeSignal(FrameType.ping, ''));
    expect(await early.closedByWorker()).toBe(true);
    expect(early.frames).toEqual([]);
  });

  it('closes a link on which nothing came for idleMs; one that pings stays open', async () => {
    const { at } = await serve(standInPool().pool, { idleMs: 600 });
    const silent = await open(at.port);
    silent.send(hello(at.token));
    const pinging = await open(at.port);
    pinging.send(hello(at.token));
    const pings = setInterval(() => pinging.send(encodeSignal(FrameType.ping, '')), 100);
    const t0 = Date.now();
    expect(await silent.closedByWorker()).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1500);
    await sleep(1200);
    clearInterval(pings);
    expect(await served(pinging, 'after-idle')).toEqual(SERVED);
    expect(pinging.open).toBe(true);
    expect(pinging.frames.filter((f) => f.type === FrameType.pong).length).toBeGreaterThanOrEqual(10);
  });
});

describe('DirectServer: connections without a hello', () => {
  it('holds 64 at most: one more closes the oldest at once, so a gateway gets in while they are held', async () => {
    const { at } = await serve(standInPool().pool, { helloTimeoutMs: 5000 });
    const silent: Awaited<ReturnType<typeof open>>[] = [];
    // One at a time: the order they were accepted in is the order opened.
    for (let i = 0; i < 64; i++) silent.push(await open(at.port));
    const t0 = Date.now();
    const gateway = await open(at.port);
    gateway.send(hello(at.token));
    expect(await served(gateway, 'beside-64-silent')).toEqual(SERVED);
    expect(Date.now() - t0).toBeLessThan(400); // not after the silent ones' hello timeout
    expect(await silent[0]?.closedByWorker()).toBe(true);
    expect(silent.slice(1).every((s) => s.open)).toBe(true);
  });

  it('does not count silent sockets against the links: with as many held as the link cap, a gateway is served', async () => {
    // The review's lockout (1024 silent sockets held MAX_LINKS' room), at a cap of 8.
    const { at } = await serve(standInPool().pool, { maxLinks: 8, maxUnauthenticated: 16 });
    await Promise.all(Array.from({ length: 8 }, () => open(at.port)));
    const gateway = await open(at.port);
    gateway.send(hello(at.token));
    expect(await served(gateway, 'beside-silent')).toEqual(SERVED);
  });

  it('refuses a link over the link cap, token or not', async () => {
    const { at } = await serve(standInPool().pool, { maxLinks: 2 });
    const first = await open(at.port);
    const second = await open(at.port);
    first.send(hello(at.token));
    second.send(hello(at.token));
    expect(await served(first, 'a')).toEqual(SERVED);
    expect(await served(second, 'b')).toEqual(SERVED);
    const third = await open(at.port);
    third.send(hello(at.token));
    expect(await third.closedByWorker()).toBe(true);
    expect(await served(first, 'c')).toEqual(SERVED);
  });
});

describe('DirectServer.close: replies', () => {
  it('delivers a reply it wrote just before closing (the link is ended, not reset)', async () => {
    const bytes = 16 * 1024 * 1024;
    const { pool, onAnswer } = standInPool({
      answer: () => ({ ok: true, status: 200, headers: {}, body: Buffer.alloc(bytes, 'a') }),
    });
    const { at } = await serve(pool);
    const closing = new Promise<void>((resolve) => onAnswer(() => void close().then(resolve)));
    const link = await open(at.port);
    link.send(hello(at.token), callFrame('big', FN, 'x'));
    await closing;
    const frames = await link.next(2);
    expect(frames.map((f) => f.type)).toEqual(SERVED);
    const reply = frames[1];
    if (reply?.type !== FrameType.reply) throw new Error('no reply frame');
    const answer = decodeInvokeReply(reply.headers, reply.data);
    expect(answer.ok && answer.body.length).toBe(bytes);
  });

  it('cuts a link whose peer does not close its end, after the grace', async () => {
    const { at } = await serve(standInPool().pool, { closeGraceMs: 200 });
    // A peer that does not end its side when the worker ends its own (half-open).
    const peer = await new Promise<Socket>((resolve) => {
      const s = connectTcp({ host: '127.0.0.1', port: at.port, allowHalfOpen: true }, () => resolve(s));
    });
    peer.on('error', () => undefined);
    peer.write(hello(at.token));
    await sleep(100);
    const t0 = Date.now();
    await close();
    expect(Date.now() - t0).toBeLessThan(EXPECT_WITHIN_MS / 3);
    peer.destroy();
  });
});
