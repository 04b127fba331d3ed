/**
 * The benchmark charts: each scenario's Vega-Lite spec, built from the committed results
 * (published/), compiles without a warning and carries the JSON's own figures; the renderer
 * gives an SVG an XML parser reads and a PNG of the SVG's size. The pixels are not compared:
 * that is the library's job, and fonts' hinting would make it brittle.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CHARTS, compileChart, renderPng, renderSvg } from '../src/charts/index.js';
import { PNG_SCALE } from '../src/charts/render.js';
import type { BurstResult } from '../src/scenarios/burst.js';
import type { ClusterResult } from '../src/scenarios/cluster.js';
import type { ColdResult } from '../src/scenarios/cold.js';
import type { DensityResult } from '../src/scenarios/density.js';
import type { HopsResult } from '../src/scenarios/hops.js';
import { RUNTIME_OPS, type RuntimeResult } from '../src/scenarios/runtime.js';
import type { SparseResult } from '../src/scenarios/sparse.js';
import type { TraceResult } from '../src/scenarios/trace.js';
import { WARM_CONNECTIONS, type WarmResult } from '../src/scenarios/warm.js';

const published = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../published/${name}.json`, import.meta.url), 'utf8'));

/** Every number in the spec's inline data sets, wherever they are nested. */
function dataNumbers(spec: unknown): Set<number> {
  const found = new Set<number>();
  const walk = (x: unknown, inData: boolean): void => {
    if (typeof x === 'number' && inData) found.add(x);
    else if (Array.isArray(x)) for (const v of x) walk(v, inData);
    else if (x && typeof x === 'object')
      for (const [k, v] of Object.entries(x)) walk(v, inData || k === 'values');
  };
  walk(spec, false);
  return found;
}

/** The figures of each results JSON that its chart must draw. */
const FIGURES: Record<keyof typeof CHARTS, (r: never) => number[]> = {
  warm: (r: WarmResult) =>
    (['gateway', 'direct'] as const).flatMap((p) =>
      WARM_CONNECTIONS.flatMap((c) => [r[p][`c${c}`].p50_ms, r[p][`c${c}`].p99_ms, r[p][`c${c}`].rps]),
    ),
  sparse: (r: SparseResult) =>
    (['gateway', 'direct', 'healthz'] as const).flatMap((p) => [r[p].p50_ms, r[p].p99_ms]),
  cold: (r: ColdResult) =>
    (['node', 'busybox'] as const).flatMap((i) => [
      r[i].p50_ms,
      r[i].p99_ms,
      r.baseline_thaw[i].p50_ms,
      r.baseline_thaw[i].p99_ms,
      r.phases[i].runtimeMs ?? 0,
      r.phases[i].appMs ?? 0,
    ]),
  burst: (r: BurstResult) => [
    r.ideal_rps,
    r.handler_ms,
    ...r.instances.flatMap((s) => [s.t, s.instances, s.running]),
    ...[...r.per_second, ...r.second.per_second]
      .filter((s) => s.rps > 0)
      .flatMap((s) => [s.rps, s.p50, s.p99]),
  ],
  trace: (r: TraceResult) =>
    (['thaw', 'fixed'] as const).flatMap((p) => [
      r[p].cold_pct,
      r[p].p50_ms ?? 0,
      r[p].p99_ms ?? 0,
      r[p].idle_cpu_pct,
      r[p].mem_mib,
    ]),
  density: (r: DensityResult) => [
    r.detail.baseline_idle_cpu_pct_no_instances,
    ...(['busybox', 'node'] as const).flatMap((i) => [
      r.detail[i].instances,
      r.detail[i].mib_per_instance,
      r.detail[i].cgroup_mib_per_instance,
      r.detail[i].idle_cpu_pct,
    ]),
  ],
  runtime: (r: RuntimeResult) => RUNTIME_OPS.flatMap((op) => [r[op].p50_ms, r[op].p99_ms]),
  hops: (r: HopsResult) =>
    r.chains.flatMap((c) => [c.idle.p50_ms, c.idle.p99_ms, c.busy.p50_ms, c.busy.p99_ms]),
  cluster: (r: ClusterResult) => [
    r.direct.c1_p50_ms,
    r.direct.c32_rps,
    ...r.throughput.flatMap((t) => [t.c1_p50_ms, t.c32_rps]),
    ...Object.values(r.loss).flatMap((l) => [l.detect_ms, l.recover_ms].filter((x) => x !== null)),
  ],
};

describe('chart specs', () => {
  it('has a chart for every scenario the README quotes', () => {
    expect(Object.keys(CHARTS).sort()).toEqual(Object.keys(FIGURES).sort());
  });

  for (const name of Object.keys(CHARTS)) {
    it(`${name}: compiles without a warning and draws the JSON's figures`, () => {
      const result = published(name);
      const spec = CHARTS[name]?.(result);
      const { vega, warnings } = compileChart(spec as NonNullable<typeof spec>);
      expect(warnings).toEqual([]);
      expect(vega.marks?.length).toBeGreaterThan(0);
      const drawn = dataNumbers(spec);
      const figures = (FIGURES[name] as (r: unknown) => number[])(result);
      expect(figures.length).toBeGreaterThan(0);
      expect(figures.filter((f) => !drawn.has(f))).toEqual([]);
    });
  }
});

describe('renderer', () => {
  it('leaves the results it drew untouched (vega tags the rows it is given)', async () => {
    const result = published('cluster');
    await renderSvg(CHARTS.cluster?.(result) as never);
    expect(result).toEqual(published('cluster'));
  });

  it('gives an SVG that parses and a PNG of its size, times the scale', async () => {
    const svg = await renderSvg(CHARTS.sparse?.(published('sparse')) as never);
    // Python's XML parser (python3 is in infra/setup.sh): a parser that is not the renderer's.
    const [tag, width, height] = execFileSync(
      'python3',
      [
        '-c',
        'import sys, xml.etree.ElementTree as E; r = E.parse(sys.stdin).getroot(); print(r.tag, r.get("width"), r.get("height"))',
      ],
      { input: svg, encoding: 'utf8' },
    )
      .trim()
      .split(' ');
    expect(tag).toBe('{http://www.w3.org/2000/svg}svg');
    expect(Number(width)).toBeGreaterThan(100);
    expect(Number(height)).toBeGreaterThan(100);
    expect(svg).toContain('gateway');

    const png = renderPng(svg);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    // IHDR, the first chunk: width and height, big-endian, at bytes 16 and 20.
    expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([
      Number(width) * PNG_SCALE,
      Number(height) * PNG_SCALE,
    ]);
  });
});
