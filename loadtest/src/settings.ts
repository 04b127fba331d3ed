import { fileURLToPath } from 'node:url';

/**
 * A whole number from the environment, `fallback` when unset. A bad value stops the benchmark
 * at start, naming the variable, rather than measuring something else than was asked.
 */
export function envInt(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 1): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`${name} must be a whole number ≥ ${min}, not "${raw}"`);
  return n;
}

/** Where a scenario writes its results: BENCH_RESULTS_DIR, else loadtest/results (git-ignored). */
export function resultsDir(env: NodeJS.ProcessEnv): string {
  return env.BENCH_RESULTS_DIR || fileURLToPath(new URL('../results/', import.meta.url));
}
