import type { DensityResult } from '../scenarios/density.js';
import { type BarRow, type ChartSpec, chart, facetBars } from './spec.js';

/** Frozen instances one worker holds per image, what each costs, and idle CPU against none held. */
export function densityChart(r: DensityResult): ChartSpec {
  const groups = ['busybox', 'node', 'no instances'] as const;
  const rows: BarRow[] = [];
  for (const image of ['busybox', 'node'] as const) {
    const f = r.detail[image];
    rows.push(
      { metric: 'frozen instances', x: '', group: image, value: f.instances },
      { metric: 'MiB each (MemAvailable)', x: '', group: image, value: f.mib_per_instance },
      { metric: 'MiB each (cgroup)', x: '', group: image, value: f.cgroup_mib_per_instance },
      { metric: 'idle CPU (%)', x: '', group: image, value: f.idle_cpu_pct },
    );
  }
  rows.push({
    metric: 'idle CPU (%)',
    x: '',
    group: 'no instances',
    value: r.detail.baseline_idle_cpu_pct_no_instances,
  });
  return chart(
    'density: frozen instances on one worker',
    `budget ${r.budget_mib} MiB; stopped by: busybox ${r.busybox.stopped_by}, node ${r.node.stopped_by}`,
    { ...facetBars({ rows, groups, xTitle: '', measured: 2 }) },
  );
}
