/**
 * The `cluster` scenario's loss figures, worked out from what each steady client saw: pure, so
 * they are unit-tested with made-up outcomes.
 */

/** One call of a steady client. */
export interface Outcome {
  /** The HTTP status; 0 when no answer came (the fetch failed or timed out). */
  status: number;
  /** The error code answered (or the fetch error's name): set only for a failed call. */
  code?: string;
  /** Epoch milliseconds. */
  start: number;
  end: number;
  /** The async call's id, when accepted. */
  callId?: string;
}

/** One client's calls, in the order it made them (a client waits for each answer). */
export interface ClientRun {
  readonly name: string;
  readonly outcomes: Outcome[];
}

/** What a loss cost, as cluster.json has it. */
export interface LossFigures {
  /** Kill → the platform noticed (the scenario's probe: worker dropped, clients moved, primary promoted). */
  detect_ms: number | null;
  /** Kill → every client had a call succeed that it sent after the kill and after its last failure. */
  recover_ms: number | null;
  /** Calls answered after the kill that failed. */
  failed: number;
  /** Those failures by error code. */
  codes: Record<string, number>;
  /** Calls answered after the kill, failed or not. */
  calls: number;
  /** The longest of those calls: a call sent to a vanished host waits for the gateway's resend. */
  slowest_ms: number;
}

/**
 * When a client was served again: the end of its first successful call sent at or after the
 * kill and after its last failed call ended. Undefined when it has no such call (yet). A client
 * stuck in a hung call sends nothing new, so a stall counts as an outage too.
 */
export function clientRecoveredAt(run: ClientRun, killedAt: number): number | undefined {
  const failures = run.outcomes.filter((o) => o.code !== undefined && o.end >= killedAt);
  const after = Math.max(killedAt, ...failures.map((o) => o.end));
  return run.outcomes.find((o) => o.code === undefined && o.start >= after)?.end;
}

/** Kill → the last client served again; null while any client is not. */
export function recoverMs(runs: readonly ClientRun[], killedAt: number): number | null {
  let last = killedAt;
  for (const run of runs) {
    const at = clientRecoveredAt(run, killedAt);
    if (at === undefined) return null;
    last = Math.max(last, at);
  }
  return last - killedAt;
}

/** Failures answered after the kill, counted by code. */
export function failuresAfter(runs: readonly ClientRun[], killedAt: number): Record<string, number> {
  const codes: Record<string, number> = {};
  for (const o of runs.flatMap((r) => r.outcomes)) {
    if (o.code === undefined || o.end < killedAt) continue;
    codes[o.code] = (codes[o.code] ?? 0) + 1;
  }
  return codes;
}

export function lossFigures(
  runs: readonly ClientRun[],
  o: { killedAt: number; detectedAt: number | undefined; recoveryOf?: readonly ClientRun[] },
): LossFigures {
  const codes = failuresAfter(runs, o.killedAt);
  const after = runs.flatMap((r) => r.outcomes).filter((x) => x.end >= o.killedAt);
  return {
    detect_ms: o.detectedAt === undefined ? null : o.detectedAt - o.killedAt,
    recover_ms: recoverMs(o.recoveryOf ?? runs, o.killedAt),
    failed: Object.values(codes).reduce((a, b) => a + b, 0),
    codes,
    calls: after.length,
    slowest_ms: Math.max(0, ...after.map((x) => x.end - x.start)),
  };
}
