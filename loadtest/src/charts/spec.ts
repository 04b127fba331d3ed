import type { TopLevelSpec } from 'vega-lite';

export type ChartSpec = TopLevelSpec;

/** One bar: a value of one metric, for one group (gateway, direct...) at one x (c1, p50...). */
export interface BarRow {
  metric: string;
  x: string;
  group: string;
  value: number;
}

/**
 * The one font the charts use, named in the spec and given to the PNG renderer by file
 * (render.ts): vega estimates text widths without a canvas, so layout does not depend on the
 * host's fonts, and resvg draws with this font only, not whatever the host has.
 */
export const CHART_FONT = 'DejaVu Sans';
/** Width and height of one panel, in SVG pixels. */
export const PANEL = { width: 260, height: 200 } as const;
/** Same-run baselines are grey; thaw's figures keep the scheme's colours. */
export const BASELINE_COLOR = '#8c8c8c';
const BASELINE_GREYS = [BASELINE_COLOR, '#c7c7c7', '#5f5f5f'];
const THAW_COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c'];

const CONFIG = {
  font: CHART_FONT,
  background: 'white',
  view: { stroke: '#ddd' },
  title: { fontSize: 14, anchor: 'start' as const, subtitleColor: '#555' },
  axis: { labelFontSize: 11, titleFontSize: 11 },
  legend: { labelFontSize: 11, titleFontSize: 11, orient: 'bottom' as const, labelLimit: 0 },
  header: { labelFontSize: 12, titleFontSize: 12 },
};

/** The top level every chart shares: schema, title, subtitle (the run's settings), config. */
export function chart(title: string, subtitle: string, body: object): ChartSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle },
    config: CONFIG,
    padding: 12,
    ...body,
  } as ChartSpec;
}

/**
 * Grouped bars, one panel per metric with its own y scale: thaw (`groups[0]`) next to its
 * same-run baselines (the rest, in greys). `log` for latencies spanning orders of magnitude.
 */
export function facetBars(o: {
  rows: BarRow[];
  groups: readonly string[];
  xTitle: string;
  yTitle?: string;
  log?: boolean;
  columns?: number;
  /** How many of `groups`, from the first, are thaw's (coloured); the rest are baselines (grey). */
  measured?: number;
}): object {
  const measured = o.measured ?? 1;
  const colors = [...THAW_COLORS.slice(0, measured), ...BASELINE_GREYS.slice(0, o.groups.length - measured)];
  // Panels in the order the rows name their metrics, not alphabetical.
  const metrics = [...new Set(o.rows.map((r) => r.metric))];
  return {
    data: { values: o.rows },
    facet: { field: 'metric', type: 'nominal', title: null, sort: metrics },
    columns: o.columns ?? 4,
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: PANEL.width,
      height: PANEL.height,
      encoding: {
        x: { field: 'x', type: 'nominal', title: o.xTitle, sort: null, axis: { labelAngle: 0 } },
        xOffset: { field: 'group', type: 'nominal', sort: o.groups },
        y: {
          field: 'value',
          type: 'quantitative',
          title: o.yTitle ?? null,
          // A log scale has no zero: bars then start at the axis, not stacked from 0.
          ...(o.log ? { scale: { type: 'log' }, stack: null } : {}),
        },
      },
      layer: [
        {
          mark: { type: 'bar', tooltip: true },
          encoding: {
            color: {
              field: 'group',
              type: 'nominal',
              title: null,
              scale: { domain: o.groups, range: colors },
            },
          },
        },
        // The figure over each bar: a same-run baseline is often too short to read off the axis.
        {
          mark: { type: 'text', dy: -5, fontSize: 10, color: '#333' },
          encoding: { text: { field: 'value', type: 'quantitative', format: '~r' } },
        },
      ],
    },
  };
}
