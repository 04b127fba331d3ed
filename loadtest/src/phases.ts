/**
 * A cold start's phases as the worker reports them (the instance's `start` in
 * GET /v1/functions/:name, StartPhases in @thaw/shared), and their medians over many starts.
 * A field the worker does not fill is null in the medians, never a guess.
 */
import { median, round } from './stats.js';

export const PHASES = ['imageMs', 'rootfsMs', 'networkMs', 'runtimeMs', 'appMs', 'totalMs', 'cpuMs'] as const;
export type Phase = (typeof PHASES)[number];
export type StartRecord = Partial<Record<Phase, number>>;
export type PhaseMedians = Record<Phase, number | null>;

/** What the scenarios read of GET /v1/functions/:name. */
export interface FunctionView {
  workers: { starting: number; instances: { state: string; start?: StartRecord }[] }[];
}

/** Median of each phase over the starts that report it (2 decimals), null when none does. */
export function phaseMedians(starts: (StartRecord | null)[]): PhaseMedians {
  const out = {} as PhaseMedians;
  for (const phase of PHASES) {
    const values = starts.flatMap((s) => (typeof s?.[phase] === 'number' ? [s[phase] as number] : []));
    out[phase] = values.length ? round(median(values), 2) : null;
  }
  return out;
}

/** How long to wait for the instance's start to show in the worker's heartbeat. */
export const START_REPORTED_WITHIN_MS = 3000;

/** The `start` of the function's only instance, once a heartbeat carries it; null if none does in time. */
export async function startOf(
  view: () => Promise<FunctionView>,
  withinMs = START_REPORTED_WITHIN_MS,
): Promise<StartRecord | null> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const start = (await view()).workers.flatMap((w) => w.instances).find((i) => i.start)?.start;
    if (start) return start;
    if (Date.now() > deadline) return null;
    await new Promise((r) => setTimeout(r, 100));
  }
}
