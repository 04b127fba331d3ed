import { useEffect, useRef } from 'preact/hooks';
import embed, { type Result, type VisualizationSpec } from 'vega-embed';
import { expressionInterpreter } from 'vega-interpreter';
import { getJson, isApiError } from '../api';
import { usePoll } from '../poll';
import type { Stats, StatsPoint } from '../types';

/** The window the figures cover. */
const WINDOW = '15m';

/** One row per panel, series and time: Vega-Lite facets the panels, each with its own y scale. */
export function chartRows(
  points: StatsPoint[],
): { t: number; panel: string; series: string; value: number }[] {
  const rows: { t: number; panel: string; series: string; value: number }[] = [];
  for (const p of points) {
    const t = typeof p.t === 'number' ? p.t : Date.parse(p.t);
    rows.push({ t, panel: 'calls per second', series: 'rate', value: p.ratePerSec });
    if (p.p50Ms !== null) rows.push({ t, panel: 'latency (ms)', series: 'p50', value: p.p50Ms });
    if (p.p99Ms !== null) rows.push({ t, panel: 'latency (ms)', series: 'p99', value: p.p99Ms });
    rows.push({ t, panel: 'cold starts', series: 'cold', value: p.cold });
    rows.push({ t, panel: 'errors', series: 'errors', value: p.errors });
  }
  return rows;
}

/** The panels, top to bottom. */
const PANELS = ['calls per second', 'latency (ms)', 'cold starts', 'errors'];
/** Room the panel titles, axes and legend take beside the plot (px). */
const CHART_MARGIN_PX = 170;

function spec(rows: ReturnType<typeof chartRows>, width: number): VisualizationSpec {
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
        y: { field: 'value', type: 'quantitative', title: null, axis: { format: '~r' } },
        color: { field: 'series', type: 'nominal', title: null },
      },
    },
  };
}

/** Rate, p50/p99 latency, cold starts and errors of the last minutes (GET /v1/stats). */
export function Charts(props: { name: string }) {
  const { name } = props;
  const { data, error, failure } = usePoll(
    (signal) => getJson<Stats>(`/v1/stats?since=${WINDOW}&function=${encodeURIComponent(name)}`, signal),
    `stats:${name}`,
  );
  const points = data?.functions[name] ?? [];
  // A gateway without the stats route (or no calls yet) has nothing to draw.
  const none = (isApiError(failure) && failure.status === 404) || (data && points.length === 0);
  return (
    <section>
      <h3>Last {WINDOW}</h3>
      {!data && !failure ? (
        <p aria-busy="true">Loading…</p>
      ) : none ? (
        <p id="no-figures">No figures yet.</p>
      ) : error ? (
        <p class="api-error" role="alert">
          {error}
        </p>
      ) : (
        <Chart rows={chartRows(points)} />
      )}
    </section>
  );
}

function Chart(props: { rows: ReturnType<typeof chartRows> }) {
  const el = useRef<HTMLDivElement>(null);
  const shown = useRef<Result | undefined>(undefined);
  useEffect(() => {
    if (!el.current) return;
    let gone = false;
    // ast + the interpreter: Vega evaluates its expressions without `new Function`, so the
    // page's CSP needs no 'unsafe-eval'. defaultStyle and vega-tooltip off: both add an inline
    // <style>, which the CSP refuses (the tooltip's style is generated, not a file to bundle).
    const width = Math.max(200, el.current.clientWidth - CHART_MARGIN_PX);
    void embed(el.current, spec(props.rows, width), {
      actions: false,
      renderer: 'svg',
      ast: true,
      expr: expressionInterpreter,
      defaultStyle: false,
      tooltip: false,
    }).then((r) => {
      if (gone) r.finalize();
      else {
        shown.current?.finalize();
        shown.current = r;
      }
    });
    return () => {
      gone = true;
    };
  }, [props.rows]);
  useEffect(() => () => shown.current?.finalize(), []);
  return <div class="charts" id="charts" ref={el} />;
}
