import { describe, expect, it } from 'vitest';
import { ConcurrencySampler } from '../../src/pool/sampler.js';

describe('ConcurrencySampler', () => {
  it('answers the time-weighted average in flight since the last sample', () => {
    let t = 0;
    const s = new ConcurrencySampler(() => t);
    s.enter(); // 1 in flight for 500 ms
    t = 500;
    s.enter(); // 2 for 500 ms
    t = 1000;
    expect(s.sample()).toBe(1.5);
    s.leave();
    s.leave();
    t = 2000;
    expect(s.sample()).toBe(0);
    expect(s.inflight).toBe(0);
  });
});
