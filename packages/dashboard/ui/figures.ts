// The figures of GET /v1/stats as Vega-Lite data and spec (pure: unit-tested apart from the page).
import type { VisualizationSpec } from 'vega-embed';
import type { StatsPoint } from './types';

export interface ChartRow {
  /** The bucket's start, in ms since the epoch. */
  t: number;
  panel: string;
  series: string;
  value: number;
}

/** One row per panel, series and time: Vega-Lite facets the panels, each with its own y scale. */
export function chartRows(points: StatsPoint[]): ChartRow[] {
  const rows: ChartRow[] = [];
  for (const p of points) {
    const t = Date.parse(p.t);
    rows.push({ t, panel: 'calls per second', series: 'rate', value: p.ratePerSec });
    if (p.p50Ms !== null) rows.push({ t, panel: 'latency (ms)', series: 'p50', value: p.p50Ms });
    if (p.p99Ms !== null) rows.push({ t, panel: 'latency (ms)', series: 'p99', value: p.p99Ms });
    rows.push({ t, panel: 'cold starts', series: 'cold', value: p.cold });
    rows.push({ t, panel: 'errors', series: 'errors', value: p.errors });
  }
  return rows;
}

/** The panels, top to bottom. */
export const PANELS = ['calls per second', 'latency (ms)', 'cold starts', 'errors'];
/** Room the panel titles, axes and legend take beside the plot (px). */
export const CHART_MARGIN_PX = 170;

export function chartSpec(rows: ChartRow[], width: number): VisualizationSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { values: rows },
    facet: { row: { field: 'panel', type: 'nominal', title: null, sort: PANELS } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width,
      height: 70,
      mark: { type: 'line', point: { size: 12 } },
      encoding: {
        x: { field: 't', type: 'temporal', title: null },
        // symlog: one slow call (a cold start, a pull) must not flatten every other point, and
        // unlike log it draws the zeros of quiet buckets.
        y: {
          field: 'value',
          type: 'quantitative',
          title: null,
          scale: { type: 'symlog' },
          axis: { format: '~r' },
        },
        color: { field: 'series', type: 'nominal', title: null },
      },
    },
  };
}
