import { HeaderBlock } from '@thaw/shared';
import { describe, expect, it } from 'vitest';
import { ReplyStore } from '../../src/invoke/replies.js';

const bytes = (n: number) => new Uint8Array(n);

describe('ReplyStore', () => {
  it('finds an answer by its reply subject, with the very references it was given', () => {
    const s = new ReplyStore({ now: () => 0 });
    const data = bytes(3);
    const h = new HeaderBlock();
    s.add('_INBOX.a', data, h);
    const r = s.get('_INBOX.a');
    expect(r?.data).toBe(data);
    expect(r?.headers).toBe(h);
    expect(s.get('_INBOX.b')).toBeUndefined();
  });

  it('forgets answers older than its window, on the next insert and on lookup', () => {
    let t = 0;
    const s = new ReplyStore({ retainMs: 1000, now: () => t });
    s.add('a', bytes(1), new HeaderBlock());
    t = 600;
    s.add('b', bytes(1), new HeaderBlock());
    t = 1000; // a is past the window, b is not
    expect(s.get('a')).toBeUndefined();
    expect(s.get('b')).toBeDefined();
    s.add('c', bytes(1), new HeaderBlock());
    expect(s.size).toBe(2);
    expect(s.heldBytes).toBe(2);
  });

  it('keeps at most maxBytes and maxCount, dropping the oldest first', () => {
    const s = new ReplyStore({ maxBytes: 10, maxCount: 3, now: () => 0 });
    s.add('a', bytes(4), new HeaderBlock());
    s.add('b', bytes(4), new HeaderBlock());
    s.add('c', bytes(4), new HeaderBlock()); // 12 bytes: a goes
    expect([s.get('a'), s.get('b'), s.get('c')].map(Boolean)).toEqual([false, true, true]);
    expect(s.heldBytes).toBe(8);
    s.add('d', bytes(1), new HeaderBlock());
    s.add('e', bytes(1), new HeaderBlock()); // 4 answers: b goes
    expect(s.size).toBe(3);
    expect(s.get('b')).toBeUndefined();
    s.add('huge', bytes(11), new HeaderBlock()); // larger than the bound: not kept, evicts nothing
    expect(s.get('huge')).toBeUndefined();
    expect(s.size).toBe(3);
  });

  it('lists the answers sent since a time, oldest first, and replaces a subject sent twice', () => {
    let t = 0;
    const s = new ReplyStore({ retainMs: 5000, now: () => t });
    for (const name of ['a', 'b', 'c']) {
      s.add(name, bytes(2), new HeaderBlock());
      t += 1000;
    }
    s.add('a', bytes(5), new HeaderBlock()); // at 3000
    expect(s.since(1000).map((r) => r.subject)).toEqual(['b', 'c', 'a']);
    expect(s.heldBytes).toBe(9);
    t = 6500; // b (1000) is past the window
    expect(s.since(0).map((r) => r.subject)).toEqual(['c', 'a']);
  });
});
