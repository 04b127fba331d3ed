/**
 * The worker's end of the direct link (DirectServer) on a real nats-server and real sockets, with
 * a stand-in pool: only a peer with the token is served; a call is accepted, run once and answered
 * on the link, or on NATS at its id when the link closed meanwhile; a function not served here is
 * sent back (`elsewhere`) without running.
 */
import { connect as connectTcp } from 'node:net';
import {
  type DecodedReply,
  decodeInvokeReply,
  encodeSignal,
  type Frame,
  FrameReader,
  FrameType,
} from '@thaw/shared';
import { createInbox, type Msg, type MsgHdrs } from 'nats';
import { describe, expect, it } from 'vitest';
import { callFrame, EXPECT_WITHIN_MS, hello } from './raw-link.js';
import { FN, standInPool, useDirectServerRig } from './rig.js';

const rig = useDirectServerRig('direct');
const { serve, open, close } = rig;

function decoded(f: Frame | undefined): DecodedReply {
  if (f?.type !== FrameType.reply) throw new Error(`expected a reply frame, got ${JSON.stringify(f)}`);
  return decodeInvokeReply(f.headers, f.data);
}

/** Messages on the NATS inbox `id`, as a gateway's inbox subscription sees them. */
function inbox(id: string): { msgs: Msg[]; answers: () => Promise<Msg[]> } {
  const msgs: Msg[] = [];
  let changed: () => void = () => undefined;
  rig.nc.subscribe(id, {
    max: 2,
    callback: (_e, m) => {
      msgs.push(m);
      changed();
    },
  });
  // Until a message with a body (an answer, not an acceptance) came, or EXPECT_WITHIN_MS.
  const answers = () =>
    new Promise<Msg[]>((resolve) => {
      const done = () => resolve(msgs.filter((m) => m.data.length > 0));
      const timer = setTimeout(done, EXPECT_WITHIN_MS);
      changed = () => {
        if (!msgs.some((m) => m.data.length > 0)) return;
        clearTimeout(timer);
        done();
      };
      changed();
    });
  return { msgs, answers };
}

describe('DirectServer: who may call', () => {
  const refused: [string, (token: string) => Buffer][] = [
    ['a wrong token', () => Buffer.concat([hello('not-the-token-at-all-0000'), callFrame('a', FN, 'x')])],
    ['another frame first, no hello', () => encodeSignal(FrameType.accepted, 'a')],
    ['a call before the hello', (t) => Buffer.concat([callFrame('a', FN, 'x'), hello(t)])],
    // Only its start: the worker must not wait for (and hold) the rest.
    ['a hello over 4 KiB', (t) => hello(t + 'x'.repeat(5000)).subarray(0, 1000)],
    [
      'a call over 4 KiB before the hello',
      (t) => Buffer.concat([callFrame('a', FN, 'x'.repeat(5000)), hello(t)]),
    ],
    ['garbage bytes', () => Buffer.from('GET / HTTP/1.1\r\nHost: worker\r\n\r\n')],
    ['garbage after the hello', (t) => Buffer.concat([hello(t), Buffer.from([0, 0, 0, 3, 99, 0, 0])])],
    [
      'a frame only a worker sends, after the hello',
      (t) => Buffer.concat([hello(t), encodeSignal(FrameType.accepted, 'a')]),
    ],
  ];
  for (const [what, bytes] of refused) {
    it(`closes the link on ${what}, and nothing runs`, async () => {
      const { pool, runs } = standInPool();
      const { at } = await serve(pool);
      const link = await open(at.port);
      link.send(bytes(at.token));
      expect(await link.closedByWorker()).toBe(true);
      expect(link.frames).toEqual([]);
      expect(runs).toHaveLength(0);
    });
  }

  it('advertises a token of its own per start', async () => {
    const first = (await serve(standInPool().pool)).at;
    await close();
    const second = (await serve(standInPool().pool)).at;
    expect(first.token.length).toBeGreaterThanOrEqual(16);
    expect(second.token).not.toBe(first.token);
  });
});

describe('DirectServer: calls', () => {
  it('sends a call of a function it does not serve back (elsewhere, with its id) without running it', async () => {
    const { pool, runs } = standInPool();
    const { at } = await serve(pool);
    const link = await open(at.port);
    link.send(hello(at.token), callFrame('id-1', 'not-here', 'x'));
    const [f] = await link.next(1);
    expect(f).toEqual({ type: FrameType.elsewhere, id: 'id-1' });
    expect(runs).toHaveLength(0);
  });

  it('accepts a call, then answers it on the link with the pool’s answer', async () => {
    const { pool, runs } = standInPool();
    const { at } = await serve(pool);
    const link = await open(at.port);
    link.send(hello(at.token));
    link.send(callFrame('id-1', FN, 'hé'), callFrame('id-2', FN, 'two'));
    const frames = await link.next(4);
    expect(frames.map((f) => [f.type, f.id])).toEqual([
      [FrameType.accepted, 'id-1'],
      [FrameType.accepted, 'id-2'],
      [FrameType.reply, 'id-1'],
      [FrameType.reply, 'id-2'],
    ]);
    const answer = decoded(frames[2]);
    expect(
      answer.ok && { status: answer.status, headers: answer.headers, body: answer.body.toString() },
    ).toEqual({
      status: 201,
      headers: { 'x-run': '1', 'x-ä': 'ö' },
      body: 'ran 1: hé',
    });
    expect(runs.map((r) => [r.method, r.path, r.query, r.headers])).toEqual([
      ['POST', '/p', 'q=1', { 'x-test': 'ü' }],
      ['POST', '/p', 'q=1', { 'x-test': 'ü' }],
    ]);
  });

  it('serves a large call sent in the same write as the hello (a gateway writes both at once)', async () => {
    const { pool, runs } = standInPool();
    const { at } = await serve(pool);
    const link = await open(at.port);
    const big = Buffer.alloc(64 * 1024, 'b');
    link.send(hello(at.token), callFrame('id-big', FN, big));
    const frames = await link.next(2);
    expect(frames.map((f) => f.type)).toEqual([FrameType.accepted, FrameType.reply]);
    const answer = decoded(frames[1]);
    expect(answer.ok && answer.body.length).toBe(big.length + 'ran 1: '.length);
    expect(runs).toHaveLength(1);
  });

  it('runs a call sent twice (on the link, then resent on NATS) once; the copy gets the stored answer', async () => {
    const { pool, runs } = standInPool();
    const { handler, at } = await serve(pool);
    const subject = `direct-test.${process.pid}.resend`;
    const sub = rig.nc.subscribe(subject, { callback: (_e, m) => void handler.handle(m, () => pool) });
    const id = createInbox();
    const link = await open(at.port);
    link.send(hello(at.token), callFrame(id, FN, 'once'));
    const onLink = decoded((await link.next(2))[1]);
    const box = inbox(id);
    // The gateway's resend: the same header block and payload, on NATS, with the id as its inbox.
    const call = callFrame(id, FN, 'once');
    const [f] = new FrameReader().push(call);
    if (f?.type !== FrameType.call) throw new Error('no call frame');
    rig.nc.publish(subject, f.data, { reply: id, headers: f.headers as unknown as MsgHdrs });
    const [again] = await box.answers();
    expect(box.msgs[0]?.data.length).toBe(0); // accepted first
    expect(again && decodeInvokeReply(again.headers, again.data)).toEqual(onLink);
    expect(runs).toHaveLength(1);
    sub.unsubscribe();
  });

  it('answers on NATS at the call’s id when the link closed while the call ran', async () => {
    const { pool, runs, running, release } = standInPool({ hold: true });
    const { at } = await serve(pool);
    const id = createInbox();
    const box = inbox(id);
    await rig.nc.flush();
    const link = await open(at.port);
    link.send(hello(at.token), callFrame(id, FN, 'late'));
    expect((await link.next(1)).map((f) => f.type)).toEqual([FrameType.accepted]);
    await running;
    await link.end();
    release();
    const [answer] = await box.answers();
    expect(answer && decodeInvokeReply(answer.headers, answer.data)).toEqual({
      ok: true,
      status: 201,
      headers: { 'x-run': '1', 'x-ä': 'ö' },
      body: Buffer.from('ran 1: late'),
    });
    expect(link.frames).toHaveLength(1);
    expect(runs).toHaveLength(1);
  });
});

describe('DirectServer.close', () => {
  it('cuts every link, said hello or not, and stops listening', async () => {
    const { at } = await serve(standInPool().pool);
    const served = await open(at.port);
    served.send(hello(at.token));
    const silent = await open(at.port);
    await close();
    expect(await served.closedByWorker()).toBe(true);
    expect(await silent.closedByWorker()).toBe(true);
    const refused = await new Promise<string>((resolve) => {
      const s = connectTcp({ host: '127.0.0.1', port: at.port });
      s.once('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
  });
});
