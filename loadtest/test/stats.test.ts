import { describe, expect, it } from 'vitest';
import { median, percentile, ratio, round, summarize } from '../src/stats.js';

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  it('picks the sample at rank ceil(p/100 × n)', () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
    // rank 0 is clamped to the first sample
    expect(percentile(hundred, 0)).toBe(1);
  });
  it('takes the lower middle of an even count for p50, and the top for p99', () => {
    const xs = [10, 20, 30, 40];
    expect(percentile(xs, 50)).toBe(20); // ceil(2) = 2nd
    expect(percentile(xs, 75)).toBe(30); // ceil(3) = 3rd
    expect(percentile(xs, 76)).toBe(40); // ceil(3.04) = 4th
    expect(percentile(xs, 99)).toBe(40);
  });
  it('gives the one sample for every p', () => {
    expect(percentile([7], 0)).toBe(7);
    expect(percentile([7], 50)).toBe(7);
    expect(percentile([7], 99)).toBe(7);
  });
  it('refuses an empty sample', () => {
    expect(() => percentile([], 50)).toThrow(/no samples/);
  });
});

describe('median', () => {
  it('is the middle of an odd count, unsorted input', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([5])).toBe(5);
  });
  it('is the mean of the two middle values of an even count', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([30, 40])).toBe(35);
  });
  it('leaves its input as it was', () => {
    const xs = [3, 1, 2];
    median(xs);
    expect(xs).toEqual([3, 1, 2]);
  });
  it('refuses an empty sample', () => {
    expect(() => median([])).toThrow(/no samples/);
  });
});

describe('summarize', () => {
  it('sorts, takes p50 and p99 to three decimals, and counts', () => {
    // p50 = 1st of 2 (0.12345 → 0.123), p99 = 2nd (1.00049 → 1)
    expect(summarize([1.00049, 0.12345])).toEqual({ p50_ms: 0.123, p99_ms: 1, n: 2 });
    expect(summarize([3, 1, 2])).toEqual({ p50_ms: 2, p99_ms: 3, n: 3 });
    expect(summarize([42.4242])).toEqual({ p50_ms: 42.424, p99_ms: 42.424, n: 1 });
  });
  it('refuses an empty sample rather than report zeros', () => {
    expect(() => summarize([])).toThrow(/no samples/);
  });
});

describe('round and ratio', () => {
  it('round to the given decimals', () => {
    expect(round(0.125, 2)).toBe(0.13);
    expect(round(11.649, 1)).toBe(11.6);
    expect(round(79.456, 0)).toBe(79);
  });
  it('ratio is a over b and refuses a zero or negative baseline', () => {
    expect(ratio(6, 0.75)).toBe(8);
    expect(ratio(0.69, 0.09)).toBeCloseTo(7.667, 3);
    expect(() => ratio(1, 0)).toThrow(/baseline of 0/);
    expect(() => ratio(1, -1)).toThrow(/baseline of -1/);
  });
});
