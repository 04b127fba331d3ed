import type { ClusterResult } from '../scenarios/cluster.js';
import { BASELINE_COLOR, type ChartSpec, chart, PANEL } from './spec.js';

const LOSSES = ['worker', 'nats_node', 'redis_primary'] as const;

/** Throughput and latency with 1-3 worker hosts against the direct baseline; each loss's times. */
export function clusterChart(r: ClusterResult): ChartSpec {
  const byHosts = (field: 'c32_rps' | 'c1_p50_ms', title: string, direct: number) => ({
    title,
    width: PANEL.width,
    height: PANEL.height,
    layer: [
      {
        data: { values: r.throughput },
        mark: { type: 'bar', tooltip: true, color: '#1f77b4' },
        encoding: {
          x: { field: 'workers', type: 'ordinal', title: 'worker hosts', axis: { labelAngle: 0 } },
          y: { field, type: 'quantitative', title: null },
        },
      },
      {
        data: { values: [{ direct, label: `direct: ${direct}` }] },
        mark: { type: 'rule', color: BASELINE_COLOR, strokeDash: [4, 3] },
        encoding: { y: { field: 'direct', type: 'quantitative' } },
      },
      {
        data: { values: [{ direct, label: `direct: ${direct}` }] },
        mark: { type: 'text', color: BASELINE_COLOR, align: 'left', dy: -6, x: 2 },
        encoding: { y: { field: 'direct', type: 'quantitative' }, text: { field: 'label' } },
      },
    ],
  });
  const losses = LOSSES.flatMap((loss) => {
    const f = r.loss[loss];
    return [
      { loss, figure: 'detected', ms: f.detect_ms },
      { loss, figure: 'recovered', ms: f.recover_ms },
    ].filter((x): x is { loss: (typeof LOSSES)[number]; figure: string; ms: number } => x.ms !== null);
  });
  const missing = LOSSES.filter((l) => r.loss[l].recover_ms === null);
  return chart(
    'cluster: thaw over 1-3 worker hosts, and three losses under load',
    `wrk c32 and c1 per host count, direct baseline dashed${missing.length ? `; not recovered within the window: ${missing.join(', ')}` : ''}`,
    {
      hconcat: [
        byHosts('c32_rps', 'c32 throughput (req/s)', r.direct.c32_rps),
        byHosts('c1_p50_ms', 'c1 p50 latency (ms)', r.direct.c1_p50_ms),
        {
          title: 'loss: ms after the kill',
          width: PANEL.width,
          height: PANEL.height,
          data: { values: losses },
          mark: { type: 'bar', tooltip: true },
          encoding: {
            x: { field: 'loss', type: 'nominal', title: null, sort: LOSSES, axis: { labelAngle: 0 } },
            xOffset: { field: 'figure', type: 'nominal' },
            y: { field: 'ms', type: 'quantitative', title: 'ms' },
            color: {
              field: 'figure',
              type: 'nominal',
              title: null,
              scale: { range: ['#ff7f0e', '#2ca02c'] },
            },
          },
        },
      ],
    },
  );
}
