/**
 * A loss under steady load: sync clients calling back to back (and, when asked, an async
 * client at a fixed pace), the loss provoked, a probe polled until it says the platform noticed,
 * and the load kept on until every client is served again (or the window ends).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type ClientRun, type LossFigures, lossFigures, type Outcome, recoverMs } from './cluster-figures.js';

type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

/** A call that hangs longer is counted as failed ("TimeoutError") rather than holding a client. */
const CALL_TIMEOUT_MS = 15_000;
/** How often the probe and the recovery are checked after the loss. */
const POLL_MS = 50;
/** An async call every this often: the outage is sampled finely without flooding the queue. */
const ASYNC_EVERY_MS = 25;
/**
 * Load stops once every client has been served again for this long with no call in flight
 * longer than STUCK_MS: a call still held up may yet fail (a relapse), so it is waited for.
 */
const TAIL_MS = 1000;
const STUCK_MS = 500;

export interface LossRun {
  fetch: Fetch;
  /** POSTed by the sync clients (200 expected). */
  syncUrl: string;
  syncClients: number;
  /** POSTed by one async client (202 expected), when given. */
  asyncUrl?: string;
  /** Load before the loss. */
  steadyMs: number;
  /** Longest the load goes on after the loss. */
  windowMs: number;
  /** Provokes the loss; the kill time is taken just before it is called. */
  lose(): Promise<void>;
  /** True once the platform noticed the loss. */
  detected(): Promise<boolean>;
  /** Recovery is judged on the async clients only (Redis: sync calls do not need it). */
  recoveryOnAsync?: boolean;
}

export interface LossResult {
  figures: LossFigures;
  /** Ids of the async calls accepted, for a caller that checks none was lost. */
  accepted: string[];
}

/** Calls `send` until `stop()`, back to back or every `everyMs`, into `run` as it goes. */
async function client(
  run: ClientRun & { since?: number },
  send: () => Promise<Response>,
  ok: number,
  stop: () => boolean,
  everyMs: number,
): Promise<void> {
  while (!stop()) {
    const o: Outcome = { status: 0, start: Date.now(), end: 0 };
    run.since = o.start;
    try {
      const res = await send();
      o.status = res.status;
      const body = (await res.json().catch(() => ({}))) as { error?: { code?: string }; callId?: string };
      if (res.status !== ok) o.code = body.error?.code ?? `HTTP ${res.status}`;
      if (body.callId) o.callId = body.callId;
    } catch (err) {
      o.code = (err as Error).name === 'TimeoutError' ? 'CLIENT_TIMEOUT' : 'NO_ANSWER';
    }
    o.end = Date.now();
    run.since = undefined;
    run.outcomes.push(o);
    if (everyMs) await sleep(Math.max(0, o.start + everyMs - Date.now()));
  }
}

export async function measureLoss(r: LossRun): Promise<LossResult> {
  let stopping = false;
  const stop = () => stopping;
  const post = (url: string) => () =>
    r.fetch(url, { method: 'POST', body: 'x', signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
  // The runs fill as the clients go, so recovery is judged while the load is on.
  const syncRuns: (ClientRun & { since?: number })[] = Array.from({ length: r.syncClients }, (_, i) => ({
    name: `sync ${i + 1}`,
    outcomes: [],
  }));
  const asyncRun: (ClientRun & { since?: number }) | undefined = r.asyncUrl
    ? { name: 'async', outcomes: [] }
    : undefined;
  const runs = asyncRun ? [...syncRuns, asyncRun] : syncRuns;
  const judged = r.recoveryOnAsync && asyncRun ? [asyncRun] : runs;
  const pending = [
    ...syncRuns.map((run) => client(run, post(r.syncUrl), 200, stop, 0)),
    ...(asyncRun && r.asyncUrl ? [client(asyncRun, post(r.asyncUrl), 202, stop, ASYNC_EVERY_MS)] : []),
  ];
  await sleep(r.steadyMs);
  const killedAt = Date.now();
  let detectedAt: number | undefined;
  try {
    await r.lose();
    while (Date.now() < killedAt + r.windowMs) {
      if (detectedAt === undefined && (await r.detected().catch(() => false))) detectedAt = Date.now();
      const back = recoverMs(judged, killedAt);
      const now = Date.now();
      const settled =
        back !== null &&
        now - (killedAt + back) >= TAIL_MS &&
        runs.every((x) => x.since === undefined || now - x.since < STUCK_MS);
      if (detectedAt !== undefined && settled) break;
      await sleep(POLL_MS);
    }
  } finally {
    stopping = true;
    await Promise.all(pending);
  }
  return {
    figures: lossFigures(runs, { killedAt, detectedAt, recoveryOf: judged }),
    accepted: runs.flatMap((x) => x.outcomes.flatMap((o) => (o.callId ? [o.callId] : []))),
  };
}
