import type { BurstResult } from '../scenarios/burst.js';
import { BASELINE_COLOR, type ChartSpec, chart } from './spec.js';

const WIDTH = 640;
const HEIGHT = 170;

/**
 * The pool's instances over the whole run (both bursts and the gap), then each burst's
 * requests/s and latency per second from its own start, against the ideal throughput and the
 * handler's own time (the same run's baselines).
 */
export function burstChart(r: BurstResult): ChartSpec {
  const pool = r.instances.flatMap((s) => [
    { t: s.t, series: 'instances (wanted or starting)', count: s.instances },
    { t: s.t, series: 'running (not frozen)', count: s.running },
  ]);
  const seconds = [
    ...r.per_second.map((s) => ({ ...s, burst: 'first (from zero)' })),
    ...r.second.per_second.map((s) => ({ ...s, burst: 'second (after the gap)' })),
  ]
    .filter((s) => s.rps > 0)
    .map((s) => ({ t: s.t + 0.5, burst: s.burst, rps: s.rps, p50: s.p50, p99: s.p99 }));
  const latency = seconds.flatMap((s) => [
    { t: s.t, burst: s.burst, stat: 'p50', ms: s.p50 },
    { t: s.t, burst: s.burst, stat: 'p99', ms: s.p99 },
  ]);
  const t = (title: string) => ({ field: 't', type: 'quantitative', title });
  const burst = { field: 'burst', type: 'nominal', title: null };
  const rule = (value: number, label: string) => [
    {
      data: { values: [{ value, label }] },
      mark: { type: 'rule', color: BASELINE_COLOR, strokeDash: [4, 3] },
      encoding: { y: { field: 'value', type: 'quantitative' } },
    },
    {
      data: { values: [{ value, label }] },
      mark: { type: 'text', color: BASELINE_COLOR, align: 'left', dx: 4, dy: -6, x: 0 },
      encoding: { y: { field: 'value', type: 'quantitative' }, text: { field: 'label' } },
    },
  ];
  return chart(
    'burst: 0 → clients within 1 s on a 50 ms handler, then again after an idle gap',
    `${r.requests} + ${r.second.requests} requests, ${r.errors + r.second.errors} errors; gap ${r.gap_s} s; second burst: ${r.second.cold_starts} cold starts, ${r.second.instances_before} instances kept`,
    {
      vconcat: [
        {
          title: 'instances over the whole run',
          width: WIDTH,
          height: HEIGHT,
          data: { values: pool },
          mark: { type: 'line', interpolate: 'step-after' },
          encoding: {
            x: t('seconds from the first burst'),
            y: { field: 'count', type: 'quantitative', title: 'instances' },
            color: {
              field: 'series',
              type: 'nominal',
              title: null,
              scale: { range: ['#9467bd', '#2ca02c'] },
            },
          },
        },
        {
          title: 'requests per second',
          width: WIDTH,
          height: HEIGHT,
          layer: [
            {
              data: { values: seconds },
              mark: { type: 'line', point: true },
              encoding: {
                x: t("seconds from the burst's start"),
                y: { field: 'rps', type: 'quantitative', title: 'req/s' },
                color: burst,
              },
            },
            ...rule(r.ideal_rps, `ideal (no overhead): ${r.ideal_rps} req/s`),
          ],
        },
        {
          title: 'latency per second (p50 solid, p99 dashed)',
          width: WIDTH,
          height: HEIGHT,
          layer: [
            {
              data: { values: latency },
              mark: { type: 'line' },
              encoding: {
                x: t("seconds from the burst's start"),
                y: { field: 'ms', type: 'quantitative', title: 'ms (log)', scale: { type: 'log' } },
                color: burst,
                strokeDash: { field: 'stat', type: 'nominal', title: null },
                detail: { field: 'stat' },
              },
            },
            ...rule(r.handler_ms, `handler: ${r.handler_ms} ms`),
          ],
        },
      ],
      resolve: { scale: { color: 'independent' } },
    },
  );
}
