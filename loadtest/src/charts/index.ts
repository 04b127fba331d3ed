import type { BurstResult } from '../scenarios/burst.js';
import type { ClusterResult } from '../scenarios/cluster.js';
import type { ColdResult } from '../scenarios/cold.js';
import type { DensityResult } from '../scenarios/density.js';
import type { HopsResult } from '../scenarios/hops.js';
import type { RuntimeResult } from '../scenarios/runtime.js';
import type { SparseResult } from '../scenarios/sparse.js';
import type { TraceResult } from '../scenarios/trace.js';
import type { WarmResult } from '../scenarios/warm.js';
import { burstChart } from './burst.js';
import { clusterChart } from './cluster.js';
import { coldChart } from './cold.js';
import { densityChart } from './density.js';
import { hopsChart } from './hops.js';
import { runtimeChart } from './runtime.js';
import { sparseChart } from './sparse.js';
import type { ChartSpec } from './spec.js';
import { traceChart } from './trace.js';
import { warmChart } from './warm.js';

/**
 * Each scenario's chart from its results JSON, as the scenario wrote it (`npm run charts`
 * re-renders from files: their shape is the scenario's result type, not checked again here).
 */
export const CHARTS: Record<string, (result: unknown) => ChartSpec> = {
  warm: (r) => warmChart(r as WarmResult),
  sparse: (r) => sparseChart(r as SparseResult),
  cold: (r) => coldChart(r as ColdResult),
  burst: (r) => burstChart(r as BurstResult),
  trace: (r) => traceChart(r as TraceResult),
  density: (r) => densityChart(r as DensityResult),
  runtime: (r) => runtimeChart(r as RuntimeResult),
  hops: (r) => hopsChart(r as HopsResult),
  cluster: (r) => clusterChart(r as ClusterResult),
};

export { compileChart, renderPng, renderSvg, writeChart } from './render.js';
export type { ChartSpec } from './spec.js';
