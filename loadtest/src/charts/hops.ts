import type { HopsResult } from '../scenarios/hops.js';
import { type BarRow, type ChartSpec, chart, facetBars } from './spec.js';

/** A chain's round trip when each hop wakes an idle CPU, against the same chain kept busy. */
export function hopsChart(r: HopsResult): ChartSpec {
  const groups = ['idle', 'busy'] as const;
  const rows: BarRow[] = r.chains.flatMap((c) =>
    groups.flatMap((group) => [
      { metric: 'p50 round trip (ms)', x: String(c.hops), group, value: c[group].p50_ms },
      { metric: 'p99 round trip (ms)', x: String(c.hops), group, value: c[group].p99_ms },
    ]),
  );
  return chart('hops: the floor of a chain of local sockets', `one call every ${r.spacing_ms} ms`, {
    ...facetBars({ rows, groups, xTitle: 'hops (sockets crossed)' }),
  });
}
