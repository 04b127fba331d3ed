import type { SparseResult } from '../scenarios/sparse.js';
import { type BarRow, type ChartSpec, chart, facetBars } from './spec.js';

const PATHS = ['gateway', 'direct', 'healthz'] as const;

/** A call that finds the instance frozen, against a never-frozen container and the gateway's /healthz. */
export function sparseChart(r: SparseResult): ChartSpec {
  const rows: BarRow[] = PATHS.flatMap((group) => [
    { metric: 'p50 latency (ms)', x: '', group, value: r[group].p50_ms },
    { metric: 'p99 latency (ms)', x: '', group, value: r[group].p99_ms },
  ]);
  const n = r.gateway.n;
  return chart('sparse: one call at a time, each finding the instance frozen', `${n} calls per path`, {
    ...facetBars({ rows, groups: PATHS, xTitle: '' }),
  });
}
