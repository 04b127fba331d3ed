import { describe, expect, it } from 'vitest';
import {
  type Call,
  firstReached,
  perSecond,
  rampSeconds,
  type SecondFigures,
  steadyLevel,
} from '../src/figures.js';

// Times are binary fractions so the latencies are exact.
const calls: Call[] = [
  { start: 0, end: 0.5, status: 200 }, // 500 ms, second 0
  { start: 0.25, end: 0.75, status: 200 }, // 500 ms, second 0
  { start: 0.5, end: 1, status: 0 }, // 500 ms, second 1 (ends on its first instant), failed
  { start: 1, end: 1.25, status: 200 }, // 250 ms, second 1
  { start: 1.25, end: 2.5, status: 503 }, // 1250 ms, second 2
];

describe('perSecond', () => {
  it('counts every call that ended in [t, t + 1), failed ones too, with its latency percentiles', () => {
    expect(perSecond(calls, 3)).toEqual([
      { t: 0, rps: 2, p50: 500, p99: 500 },
      { t: 1, rps: 2, p50: 250, p99: 500 },
      { t: 2, rps: 1, p50: 1250, p99: 1250 },
    ]);
  });
  it('leaves out calls that ended after the seconds asked for', () => {
    expect(perSecond(calls, 2).map((s) => s.rps)).toEqual([2, 2]);
  });
  it('gives zeros for seconds with no call, and nothing for no seconds', () => {
    expect(perSecond([], 2)).toEqual([
      { t: 0, rps: 0, p50: 0, p99: 0 },
      { t: 1, rps: 0, p50: 0, p99: 0 },
    ]);
    expect(perSecond(calls, 0)).toEqual([]);
  });
});

const load: SecondFigures[] = [10, 20, 40, 30, 50, 60].map((rps, t) => ({ t, rps, p50: 0, p99: 0 }));

describe('steadyLevel', () => {
  it('is the median throughput of the second half of the hold', () => {
    expect(steadyLevel(load, 6)).toBe(50); // seconds 3, 4, 5: 30, 50, 60
  });
  it('takes the mean of the two middle seconds of an even count', () => {
    expect(steadyLevel(load, 4)).toBe(35); // seconds 2, 3: 40, 30
  });
  it('leaves out the seconds after the hold', () => {
    expect(steadyLevel(load, 2)).toBe(20); // second 1 only
  });
  it('is 0 when the hold has no second half', () => {
    expect(steadyLevel(load, 1)).toBe(0);
    expect(steadyLevel([], 20)).toBe(0);
  });
});

describe('rampSeconds', () => {
  it('is the end of the first second at 90% of the steady level', () => {
    expect(rampSeconds(load, 50)).toBe(5); // 45 first reached in second 4
    expect(rampSeconds(load, 35)).toBe(3); // 31.5 first reached in second 2
    expect(rampSeconds(load, 10)).toBe(1);
  });
  it('is null when never reached or when there is no steady level', () => {
    expect(rampSeconds(load, 100)).toBeNull();
    expect(rampSeconds(load, 0)).toBeNull();
  });
});

describe('firstReached', () => {
  const samples = [
    { t: 0.25, value: 0 },
    { t: 0.5, value: 3 },
    { t: 0.75, value: 4 },
    { t: 1, value: 4 },
  ];
  it('is the time of the first sample at or above the level', () => {
    expect(firstReached(samples, 4)).toBe(0.75);
    expect(firstReached(samples, 3)).toBe(0.5);
    expect(firstReached(samples, 0)).toBe(0.25);
  });
  it('is null when the level is never reached', () => {
    expect(firstReached(samples, 5)).toBeNull();
    expect(firstReached([], 1)).toBeNull();
  });
});
