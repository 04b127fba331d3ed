import { describe, expect, it } from 'vitest';
import { envInt, resultsDir } from '../src/settings.js';

describe('envInt', () => {
  it('gives the default when unset or empty', () => {
    expect(envInt({}, 'BENCH_RUNS', 30)).toBe(30);
    expect(envInt({ BENCH_RUNS: '' }, 'BENCH_RUNS', 30)).toBe(30);
  });
  it('reads a whole number', () => {
    expect(envInt({ BENCH_RUNS: '2' }, 'BENCH_RUNS', 30)).toBe(2);
    expect(envInt({ X: '0' }, 'X', 5, 0)).toBe(0);
  });
  it('refuses fractions, words and numbers below the minimum, naming the variable', () => {
    expect(() => envInt({ BENCH_RUNS: '0' }, 'BENCH_RUNS', 30)).toThrow(
      'BENCH_RUNS must be a whole number ≥ 1, not "0"',
    );
    expect(() => envInt({ BENCH_RUNS: '2.5' }, 'BENCH_RUNS', 30)).toThrow(/BENCH_RUNS/);
    expect(() => envInt({ BENCH_RUNS: 'ten' }, 'BENCH_RUNS', 30)).toThrow(/BENCH_RUNS/);
  });
});

describe('resultsDir', () => {
  it('is BENCH_RESULTS_DIR when set, else loadtest/results', () => {
    expect(resultsDir({ BENCH_RESULTS_DIR: '/tmp/x' })).toBe('/tmp/x');
    expect(resultsDir({})).toMatch(/\/loadtest\/results\/$/);
  });
});
