import { WARM_CONNECTIONS, type WarmResult } from '../scenarios/warm.js';
import { type BarRow, type ChartSpec, chart, facetBars } from './spec.js';

/** Gateway against the same container called directly, at each connection count. */
export function warmChart(r: WarmResult): ChartSpec {
  const rows: BarRow[] = [];
  for (const group of ['gateway', 'direct'] as const) {
    for (const c of WARM_CONNECTIONS) {
      const f = r[group][`c${c}`];
      const x = `c${c}`;
      rows.push(
        { metric: 'p50 latency (ms, log)', x, group, value: f.p50_ms },
        { metric: 'p99 latency (ms, log)', x, group, value: f.p99_ms },
      );
    }
  }
  const rps: BarRow[] = [];
  for (const group of ['gateway', 'direct'] as const)
    for (const c of WARM_CONNECTIONS)
      rps.push({ metric: 'throughput (req/s)', x: `c${c}`, group, value: r[group][`c${c}`].rps });
  const groups = ['gateway', 'direct'] as const;
  return chart(
    'warm: a thawed function through the gateway vs the same container direct',
    'wrk per connection count',
    {
      hconcat: [
        facetBars({ rows, groups, xTitle: 'connections', log: true }),
        facetBars({ rows: rps, groups, xTitle: 'connections' }),
      ],
    },
  );
}
