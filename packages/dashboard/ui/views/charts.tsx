import { useEffect, useRef } from 'preact/hooks';
import embed, { type Result } from 'vega-embed';
import { expressionInterpreter } from 'vega-interpreter';
import { getJson, isApiError } from '../api';
import { CHART_MARGIN_PX, type ChartRow, chartRows, chartSpec } from '../figures';
import { usePoll } from '../poll';
import type { Stats } from '../types';

/** The window the figures cover. */
const WINDOW = '15m';

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

function Chart(props: { rows: ChartRow[] }) {
  const el = useRef<HTMLDivElement>(null);
  const shown = useRef<Result | undefined>(undefined);
  useEffect(() => {
    if (!el.current) return;
    let gone = false;
    // ast + the interpreter: Vega evaluates its expressions without `new Function`, so the
    // page's CSP needs no 'unsafe-eval'. defaultStyle and vega-tooltip off: both add an inline
    // <style>, which the CSP refuses (the tooltip's style is generated, not a file to bundle).
    const width = Math.max(200, el.current.clientWidth - CHART_MARGIN_PX);
    void embed(el.current, chartSpec(props.rows, width), {
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
