import type { TraceResult } from '../scenarios/trace.js';
import { type BarRow, type ChartSpec, chart, facetBars } from './spec.js';

/** The same trace on thaw's defaults and on a fixed keep-alive (the peers' policy). */
export function traceChart(r: TraceResult): ChartSpec {
  const groups = ['thaw', 'fixed keep-alive'] as const;
  const rows: BarRow[] = [];
  for (const [group, f] of [
    [groups[0], r.thaw],
    [groups[1], r.fixed],
  ] as const) {
    const add = (metric: string, value: number | null) => {
      if (value !== null) rows.push({ metric, x: '', group, value });
    };
    add('cold starts (% of calls)', f.cold_pct);
    add('p50 latency (ms)', f.p50_ms);
    add('p99 latency (ms)', f.p99_ms);
    add('idle CPU (%)', f.idle_cpu_pct);
    add('instances memory (MiB)', f.mem_mib);
  }
  const d = r.detail;
  return chart(
    'trace: an Azure-shaped trace on thaw vs a fixed keep-alive',
    `${d.functions} functions, ${d.real_minutes} real minutes in ${d.wall_s} s, ${d.memory_budget_mib} MiB for ${d.sum_of_limits_mib} MiB of limits; errors: thaw ${d.thaw.errors}, fixed ${d.fixed.errors} of ${d.thaw.calls}`,
    { ...facetBars({ rows, groups, xTitle: '', columns: 3 }) },
  );
}
