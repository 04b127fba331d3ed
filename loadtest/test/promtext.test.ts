import { describe, expect, it } from 'vitest';
import { parseSamples, sumBy, sumOf } from '../src/promtext.js';

const TEXT = `# HELP thaw_worker_instance_starts_total Instance starts.
# TYPE thaw_worker_instance_starts_total counter
thaw_worker_instance_starts_total{function="a",reason="request",result="ok"} 3
thaw_worker_instance_starts_total{function="b",reason="request",result="ok"} 2
thaw_worker_instance_starts_total{function="b",reason="minimum",result="ok"} 5
thaw_worker_instance_starts_total{function="b",reason="request",result="error"} 1
thaw_worker_instance_removals_total{function="a",reason="memory"} 4
thaw_worker_instance_removals_total{function="b",reason="idle-age"} 6
thaw_worker_instance_removals_total{function="c,\\"d\\"",reason="memory"} 1
process_cpu_seconds_total 1.5
`;

describe('Prometheus text', () => {
  const samples = parseSamples(TEXT);
  it('reads every sample with its labels, comments skipped', () => {
    expect(samples).toHaveLength(8);
    expect(samples[0]).toEqual({
      name: 'thaw_worker_instance_starts_total',
      labels: { function: 'a', reason: 'request', result: 'ok' },
      value: 3,
    });
    expect(samples[6]?.labels.function).toBe('c,"d"');
    expect(samples[7]).toEqual({ name: 'process_cpu_seconds_total', labels: {}, value: 1.5 });
  });
  it('sums the samples matching some labels', () => {
    expect(sumOf(samples, 'thaw_worker_instance_starts_total')).toBe(11);
    expect(sumOf(samples, 'thaw_worker_instance_starts_total', { reason: 'request' })).toBe(6);
    expect(sumOf(samples, 'thaw_worker_instance_starts_total', { reason: 'request', result: 'ok' })).toBe(5);
    expect(sumOf(samples, 'nope')).toBe(0);
  });
  it('groups sums by a label', () => {
    expect(sumBy(samples, 'thaw_worker_instance_removals_total', 'reason')).toEqual({
      memory: 5,
      'idle-age': 6,
    });
  });
});
