import { describe, expect, it } from 'vitest';
import { CHART_MARGIN_PX, chartRows, chartSpec, PANELS } from '../ui/figures';
import type { StatsPoint } from '../ui/types';

const point = (t: string, p: Partial<StatsPoint> = {}): StatsPoint => ({
  t,
  calls: 3,
  errors: 1,
  cold: 2,
  ratePerSec: 0.3,
  p50Ms: 12,
  p99Ms: 40,
  ...p,
});

describe('chartRows', () => {
  it('gives one row per panel and series at each bucket, at its ISO time in ms', () => {
    const rows = chartRows([point('2026-12-06T10:00:00.000Z'), point('2026-12-06T10:00:10.000Z')]);
    expect(rows.slice(0, 5)).toEqual([
      { t: Date.parse('2026-12-06T10:00:00.000Z'), panel: 'calls per second', series: 'rate', value: 0.3 },
      { t: Date.parse('2026-12-06T10:00:00.000Z'), panel: 'latency (ms)', series: 'p50', value: 12 },
      { t: Date.parse('2026-12-06T10:00:00.000Z'), panel: 'latency (ms)', series: 'p99', value: 40 },
      { t: Date.parse('2026-12-06T10:00:00.000Z'), panel: 'cold starts', series: 'cold', value: 2 },
      { t: Date.parse('2026-12-06T10:00:00.000Z'), panel: 'errors', series: 'errors', value: 1 },
    ]);
    expect(rows[5]?.t).toBe(Date.parse('2026-12-06T10:00:10.000Z'));
    expect(rows).toHaveLength(10);
    expect(new Set(rows.map((r) => r.panel))).toEqual(new Set(PANELS));
  });

  it('draws no latency for a bucket without calls (null percentiles), and no NaN', () => {
    const rows = chartRows([
      point('2026-12-06T10:00:00.000Z', { calls: 0, ratePerSec: 0, p50Ms: null, p99Ms: null }),
    ]);
    expect(rows.map((r) => r.series)).toEqual(['rate', 'cold', 'errors']);
    expect(rows.every((r) => Number.isFinite(r.value) && Number.isFinite(r.t))).toBe(true);
  });
});

describe('chartSpec', () => {
  it('facets the panels in a fixed order, each with its own y scale, at the given width', () => {
    const rows = chartRows([point('2026-12-06T10:00:00.000Z')]);
    const spec = chartSpec(rows, 640) as unknown as {
      data: { values: unknown[] };
      facet: { row: { field: string; sort: string[] } };
      resolve: { scale: { y: string } };
      spec: { width: number; encoding: { y: { scale: { type: string } } } };
    };
    expect(spec.data.values).toBe(rows);
    expect(spec.facet.row).toMatchObject({ field: 'panel', sort: PANELS });
    expect(spec.resolve.scale.y).toBe('independent');
    expect(spec.spec.width).toBe(640);
    expect(spec.spec.encoding.y.scale.type).toBe('symlog');
    expect(CHART_MARGIN_PX).toBeGreaterThan(0);
  });
});
