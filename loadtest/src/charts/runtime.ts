import { RUNTIME_OPS, type RuntimeResult } from '../scenarios/runtime.js';
import { BASELINE_COLOR, type ChartSpec, chart } from './spec.js';

/** runc's own pause/resume: the baseline freeze and thaw are measured against. */
const RUNC = new Set(['runc_pause', 'runc_resume']);

/** Each operation of the embedded runtime, p50 bars and p99 ticks, against runc pause/resume. */
export function runtimeChart(r: RuntimeResult): ChartSpec {
  const rows = RUNTIME_OPS.map((op) => ({
    op,
    by: RUNC.has(op) ? 'runc (baseline)' : 'thaw runtime',
    p50_ms: r[op].p50_ms,
    p99_ms: r[op].p99_ms,
  }));
  const y = { field: 'op', type: 'nominal', title: null, sort: null };
  return chart("runtime: the embedded runtime's operations", `${r.freeze.n} runs each; bars p50, ticks p99`, {
    width: 460,
    height: 260,
    data: { values: rows },
    layer: [
      {
        mark: { type: 'bar', tooltip: true },
        encoding: {
          y,
          x: {
            field: 'p50_ms',
            type: 'quantitative',
            title: 'ms (log)',
            scale: { type: 'log' },
            stack: null,
          },
          color: {
            field: 'by',
            type: 'nominal',
            title: null,
            scale: { domain: ['thaw runtime', 'runc (baseline)'], range: ['#1f77b4', BASELINE_COLOR] },
          },
        },
      },
      {
        mark: { type: 'tick', color: 'black' },
        encoding: { y, x: { field: 'p99_ms', type: 'quantitative' } },
      },
    ],
  });
}
