/**
 * The direct link's codec (wire/direct.ts, wire/header-block.ts): what one end encodes the other
 * reads back the same, however TCP cuts the stream, and a broken or hostile stream throws
 * FrameError (the link is then closed) instead of being read on.
 */
import { describe, expect, it } from 'vitest';
import {
  encodeCall,
  encodeHello,
  encodeReply,
  encodeSignal,
  type Frame,
  FrameError,
  FrameReader,
  FrameType,
  isCallId,
  MAX_FRAME_BYTES,
} from '../src/wire/direct.js';
import { HeaderBlock } from '../src/wire/header-block.js';

const MIB = 1024 * 1024;

function block(entries: [string, string][]): HeaderBlock {
  const b = new HeaderBlock();
  for (const [k, v] of entries) b.set(k, v);
  return b;
}

const join = (parts: Buffer | Uint8Array[]): Buffer =>
  Buffer.isBuffer(parts) ? parts : Buffer.concat(parts.map((p) => Buffer.from(p)));

/** A frame as plain values, to compare what was read with what was sent. */
function plain(f: Frame): Record<string, unknown> {
  const out: Record<string, unknown> = { ...f };
  if ('headers' in f) out.headers = Buffer.from(f.headers.encode()).toString('latin1');
  if ('data' in f) out.data = Buffer.from(f.data).toString('hex');
  return out;
}

const id = '_INBOX.wörk€r.✓.42';
const fn = 'fünction-😀';
const h = block([
  ['thaw-method', 'POST'],
  ['thaw-headers', '{"x-ä":"ñ"}'],
]);
const body = Buffer.from('héllo wörld 😀');

/** One of each frame type, with the frames expected back. */
function sample(): { wire: Buffer; frames: Record<string, unknown>[] } {
  const wire = Buffer.concat([
    encodeHello('gateway-ü', 'tøken'),
    join(encodeCall(id, fn, h.encode(), body)),
    encodeSignal(FrameType.accepted, id),
    join(encodeReply(id, h.encode(), body)),
    encodeSignal(FrameType.elsewhere, id),
    join(encodeCall('empty', 'f', new HeaderBlock().encode(), new Uint8Array(0))),
  ]);
  const hs = Buffer.from(h.encode()).toString('latin1');
  const data = body.toString('hex');
  const frames = [
    { type: FrameType.hello, id: 'gateway-ü', token: 'tøken' },
    { type: FrameType.call, id, fn, headers: hs, data },
    { type: FrameType.accepted, id },
    { type: FrameType.reply, id, headers: hs, data },
    { type: FrameType.elsewhere, id },
    { type: FrameType.call, id: 'empty', fn: 'f', headers: 'NATS/1.0\r\n\r\n', data: '' },
  ];
  return { wire, frames };
}

/** A frame by hand: length | type | the rest as given. */
function raw(type: number, rest: Buffer): Buffer {
  const b = Buffer.alloc(5);
  b.writeUInt32BE(1 + rest.length, 0);
  b.writeUInt8(type, 4);
  return Buffer.concat([b, rest]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

const named = (s: string) => Buffer.concat([u16(Buffer.byteLength(s)), Buffer.from(s)]);

describe('direct link frames', () => {
  it('reads back every frame type as encoded, multi-byte UTF-8 names and bodies included', () => {
    const { wire, frames } = sample();
    expect(new FrameReader().push(wire).map(plain)).toEqual(frames);
  });

  it('reads the same frames whatever byte the stream is cut at, and with one byte per chunk', () => {
    const { wire, frames } = sample();
    for (let cut = 0; cut <= wire.length; cut++) {
      const reader = new FrameReader();
      const got = [...reader.push(wire.subarray(0, cut)), ...reader.push(wire.subarray(cut))];
      expect(got.map(plain), `cut at ${cut}`).toEqual(frames);
    }
    const reader = new FrameReader();
    const got: Frame[] = [];
    for (let i = 0; i < wire.length; i++) got.push(...reader.push(wire.subarray(i, i + 1)));
    expect(got.map(plain)).toEqual(frames);
  });

  it('reads many frames from one chunk in order', () => {
    const calls = Array.from({ length: 500 }, (_, i) =>
      join(encodeCall(`id-${i}`, fn, h.encode(), Buffer.from(`body ${i}`))),
    );
    const got = new FrameReader().push(Buffer.concat(calls));
    expect(got.map((f) => f.id)).toEqual(calls.map((_, i) => `id-${i}`));
    expect(got.map((f) => ('data' in f ? f.data.toString() : ''))).toEqual(calls.map((_, i) => `body ${i}`));
  });

  it('carries a 1 MiB body whole, split or not', () => {
    const big = Buffer.alloc(MIB);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    const wire = join(encodeReply(id, h.encode(), big));
    const [whole] = new FrameReader().push(wire);
    expect(whole?.type === FrameType.reply && whole.data.equals(big)).toBe(true);
    const reader = new FrameReader();
    const got: Frame[] = [];
    for (let at = 0; at < wire.length; at += 65_536) got.push(...reader.push(wire.subarray(at, at + 65_536)));
    expect(got).toHaveLength(1);
    expect(got[0]?.type === FrameType.reply && got[0].data.equals(big)).toBe(true);
  });

  it('gives a body read within one chunk as a view of that chunk (no copy)', () => {
    const chunk = join(encodeCall(id, fn, h.encode(), body));
    const [f] = new FrameReader().push(chunk);
    if (f?.type !== FrameType.call) throw new Error('no call read');
    expect(f.data.buffer).toBe(chunk.buffer);
    expect(f.data.byteOffset).toBe(chunk.byteOffset + chunk.length - body.length);
    chunk[chunk.length - 1] = 0x21; // a change to the chunk shows through the body
    expect(f.data.at(-1)).toBe(0x21);
  });

  it('throws FrameError on a length over the limit, before the frame arrives', () => {
    const reader = new FrameReader({ maxFrameBytes: 4096 });
    expect(() => reader.push(u32(4097))).toThrow(FrameError);
    expect(() => new FrameReader().push(u32(MAX_FRAME_BYTES + 1))).toThrow(FrameError);
    expect(new FrameReader({ maxFrameBytes: 4096 }).push(u32(4096))).toEqual([]); // at the limit: waits for the rest
  });

  it('holds the first frame alone to its own limit, the frames after it (same chunk) to the full one', () => {
    const first = () => new FrameReader({ firstFrameMaxBytes: 64 });
    const bigCall = join(encodeCall(id, fn, h.encode(), Buffer.alloc(4096)));
    expect(() => first().push(bigCall)).toThrow(FrameError);
    const got = first().push(Buffer.concat([encodeHello('g', 't'), bigCall, bigCall]));
    expect(got.map((f) => f.type)).toEqual([FrameType.hello, FrameType.call, FrameType.call]);
  });

  it('throws FrameError on an unknown type', () => {
    expect(() => new FrameReader().push(raw(9, named('x')))).toThrow(/unknown frame type 9/);
    expect(() => new FrameReader().push(raw(0, named('x')))).toThrow(FrameError);
  });

  it('throws FrameError on frames shorter than their fields', () => {
    const short = [
      u32(0), // no type
      raw(FrameType.accepted, Buffer.alloc(1)), // half an id length
      raw(FrameType.accepted, Buffer.concat([u16(5), Buffer.from('abc')])), // id cut short
      raw(FrameType.call, Buffer.concat([named('id'), u16(3), Buffer.from('f')])), // function cut short
      raw(FrameType.call, Buffer.concat([named('id'), named('f'), Buffer.alloc(2)])), // no header length
      raw(FrameType.reply, Buffer.concat([named('id'), u32(100), Buffer.from('NATS/1.0\r\n\r\n')])),
    ];
    for (const wire of short)
      expect(() => new FrameReader().push(wire), wire.toString('hex')).toThrow(FrameError);
  });

  it('throws FrameError on an id or a function name over 1 KiB', () => {
    const long = 'x'.repeat(1025);
    expect(() => new FrameReader().push(encodeSignal(FrameType.accepted, long))).toThrow(/over the limit/);
    expect(() => new FrameReader().push(join(encodeCall('id', long, h.encode(), body)))).toThrow(FrameError);
    const atLimit = 'x'.repeat(1024);
    expect(new FrameReader().push(encodeSignal(FrameType.accepted, atLimit))[0]?.id).toBe(atLimit);
  });

  it('throws FrameError on a malformed header block', () => {
    const bad = Buffer.from('HTTP/1.1\r\na: b\r\n\r\n');
    expect(() => new FrameReader().push(join(encodeCall(id, fn, bad, body)))).toThrow(
      /malformed header block/,
    );
    expect(() =>
      new FrameReader().push(join(encodeReply(id, Buffer.from('NATS/1.0\r\na: b'), body))),
    ).toThrow(FrameError);
  });
});

describe('HeaderBlock.parse', () => {
  it('reads back what was set, and encodes to the very bytes it was read from', () => {
    const wire = block([
      ['thaw-status', '200'],
      ['thaw-headers', '{"ä":"😀"}'],
      ['empty', ''],
    ]).encode();
    const parsed = HeaderBlock.parse(wire);
    expect(parsed?.get('thaw-status')).toBe('200');
    expect(parsed?.get('thaw-headers')).toBe('{"ä":"😀"}');
    expect(parsed?.get('empty')).toBe('');
    expect(parsed?.get('missing')).toBe('');
    expect(parsed?.encode()).toBe(wire);
    const empty = HeaderBlock.parse(new HeaderBlock().encode());
    expect(empty?.get('thaw-status')).toBe('');
  });

  it('takes headers set after it was read', () => {
    const parsed = HeaderBlock.parse(block([['a', '1']]).encode());
    parsed?.set('b', '2');
    const again = HeaderBlock.parse(parsed?.encode() ?? new Uint8Array(0));
    expect([again?.get('a'), again?.get('b')]).toEqual(['1', '2']);
  });

  it('refuses bytes that are not a header block', () => {
    for (const text of [
      '',
      'NATS/1.0\r\n',
      'NATS/1.0 503\r\n\r\n',
      'HTTP/1.1\r\n\r\n',
      'NATS/1.0\r\na: b\r\n',
    ]) {
      expect(HeaderBlock.parse(Buffer.from(text)), JSON.stringify(text)).toBeUndefined();
    }
  });
});

describe('isCallId', () => {
  it('takes a literal NATS subject (an inbox) and nothing that could break the protocol line', () => {
    for (const id of ['_INBOX.abc.12', '_INBOX.Zz09-_.5', 'a']) expect(isCallId(id)).toBe(true);
    for (const id of [
      '',
      'a b',
      'x\r\nPUB y 2',
      'tab\there',
      's.*',
      's.>',
      '*',
      '>',
      'a.*.b',
      '.a',
      'a.',
      'a..b',
      'é',
    ])
      expect(isCallId(id)).toBe(false);
  });
});
