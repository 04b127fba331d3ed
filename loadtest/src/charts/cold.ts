import type { ColdResult } from '../scenarios/cold.js';
import { type BarRow, type ChartSpec, chart, facetBars, PANEL } from './spec.js';

const IMAGES = ['node', 'busybox'] as const;
/** The start phases drawn, in order (total and cpu are sums, not phases). */
const PHASES = ['imageMs', 'rootfsMs', 'networkMs', 'runtimeMs', 'appMs'] as const;

/** A first call with no instance against the next call (a thaw), and where a start's time goes. */
export function coldChart(r: ColdResult): ChartSpec {
  const groups = ['cold start', 'next call (thaw)'] as const;
  const rows: BarRow[] = IMAGES.flatMap((image) => [
    { metric: 'p50 latency (ms)', x: image, group: groups[0], value: r[image].p50_ms },
    { metric: 'p50 latency (ms)', x: image, group: groups[1], value: r.baseline_thaw[image].p50_ms },
    { metric: 'p99 latency (ms)', x: image, group: groups[0], value: r[image].p99_ms },
    { metric: 'p99 latency (ms)', x: image, group: groups[1], value: r.baseline_thaw[image].p99_ms },
  ]);
  const phases = IMAGES.flatMap((image) =>
    PHASES.map((phase, order) => ({
      image,
      phase: phase.replace(/Ms$/, ''),
      order,
      ms: r.phases[image][phase] ?? 0,
    })),
  );
  return chart('cold: first call to a function with no instance', `${r.node.n} runs per image`, {
    hconcat: [
      facetBars({ rows, groups, xTitle: 'image' }),
      {
        title: 'median start phases (ms)',
        width: PANEL.width,
        height: PANEL.height,
        data: { values: phases },
        mark: { type: 'bar', tooltip: true },
        encoding: {
          x: { field: 'image', type: 'nominal', title: 'image', sort: IMAGES, axis: { labelAngle: 0 } },
          y: { field: 'ms', type: 'quantitative', title: 'ms', stack: 'zero' },
          color: {
            field: 'phase',
            type: 'nominal',
            title: null,
            sort: PHASES.map((p) => p.replace(/Ms$/, '')),
          },
          order: { field: 'order' },
        },
      },
    ],
    resolve: { scale: { color: 'independent' } },
  });
}
