/** Steady sync and async load for the NATS cluster tests, kept per client so recovery can be timed. */

export interface Outcome {
  /** 200 for a served call (202 for an accepted async call); 0 when no HTTP answer came. */
  status: number;
  /** The error code the gateway answered with (or the fetch error's text when none came). */
  code?: string;
  start: number;
  end: number;
  /** The async call's id, when accepted. */
  callId?: string;
}

export interface ClientRun {
  readonly name: string;
  readonly outcomes: Outcome[];
}

type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

/** One client: calls `send()` back to back (or every `everyMs`) until `stop()` says so. */
async function client(
  name: string,
  send: () => Promise<Response>,
  ok: number,
  stop: () => boolean,
  everyMs = 0,
): Promise<ClientRun> {
  const run: ClientRun = { name, outcomes: [] };
  while (!stop()) {
    const start = Date.now();
    const o: Outcome = { status: 0, start, end: 0 };
    try {
      const res = await send();
      const body = (await res.json().catch(() => ({}))) as { error?: { code?: string }; callId?: string };
      o.status = res.status;
      if (res.status !== ok) o.code = body.error?.code ?? `HTTP ${res.status}`;
      if (body.callId) o.callId = body.callId;
    } catch (err) {
      o.code = (err as Error).message;
    }
    o.end = Date.now();
    run.outcomes.push(o);
    if (everyMs) await new Promise((r) => setTimeout(r, Math.max(0, start + everyMs - Date.now())));
  }
  return run;
}

/** Sync clients: POST /fn/<fn><path>, each waiting for its answer before the next call. */
export function syncClients(f: Fetch, gateways: string[], fn: string, path: string, perGateway: number) {
  return (stop: () => boolean) =>
    gateways.flatMap((g, gi) =>
      Array.from({ length: perGateway }, (_, i) =>
        client(
          `sync g${gi + 1}.${i + 1}`,
          () => f(`${g}/fn/${fn}${path}`, { method: 'POST', body: 'x', signal: AbortSignal.timeout(15_000) }),
          200,
          stop,
        ),
      ),
    );
}

/** Async clients: POST /async/<fn><path> every `everyMs`, one per gateway. */
export function asyncClients(f: Fetch, gateways: string[], fn: string, path: string, everyMs: number) {
  return (stop: () => boolean) =>
    gateways.map((g, gi) =>
      client(
        `async g${gi + 1}`,
        () =>
          f(`${g}/async/${fn}${path}`, { method: 'POST', body: 'x', signal: AbortSignal.timeout(15_000) }),
        202,
        stop,
        everyMs,
      ),
    );
}

/**
 * How long after `at` the client was served again, when it failed after `at` (0 when it never
 * failed): the time from the loss to the first success after its first failure.
 */
export function recoveryMs(run: ClientRun, at: number): number | undefined {
  const firstFail = run.outcomes.findIndex((o) => o.end >= at && o.code !== undefined);
  if (firstFail < 0) return 0;
  const next = run.outcomes.slice(firstFail).find((o) => o.code === undefined);
  return next ? next.end - at : undefined;
}
