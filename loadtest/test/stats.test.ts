import { describe, expect, it } from 'vitest';
import { percentile, summarize } from '../src/stats.js';

describe('percentiles', () => {
  it('use the nearest rank', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
  });
  it('summarize unsorted samples', () => {
    expect(summarize([3, 1, 2])).toEqual({ p50_ms: 2, p99_ms: 3, n: 3 });
  });
  it('refuse an empty sample', () => {
    expect(() => percentile([], 50)).toThrow(/no samples/);
  });
});
