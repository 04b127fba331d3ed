import { describe, expect, it } from 'vitest';
import { ResendFilter } from '../../src/invoke/resends.js';

describe('ResendFilter', () => {
  it('lets a call through once within the window and forgets it after', () => {
    let t = 0;
    const f = new ResendFilter(15_000, () => t);
    expect(f.firstTime('_INBOX.a')).toBe(true);
    expect(f.firstTime('_INBOX.a')).toBe(false);
    t = 10_000;
    expect(f.firstTime('_INBOX.b')).toBe(true);
    expect(f.firstTime('_INBOX.a')).toBe(false);
    t = 15_001; // a is past the window, b is not
    expect(f.firstTime('_INBOX.a')).toBe(true);
    expect(f.firstTime('_INBOX.b')).toBe(false);
  });
});
