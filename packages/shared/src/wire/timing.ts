import { InvokeHeader } from '../subjects.js';
import type { WireHeaders, WireHeadersIn } from './invoke.js';

/**
 * Per-phase timing of one call along gateway → worker (direct link or NATS) → container and back,
 * for finding where a call's milliseconds go. Only calls the gateway traces (THAW_TIMINGS=1) carry a trace:
 * when off, no clock is read and no header is sent. Marks are absolute times in ms
 * (`traceNow`); the gateway and the worker run on one host's clock in practice, and the two
 * hops between them (`to-worker`, `to-gateway`) are the only spans that compare marks of two
 * processes.
 */
export interface CallTrace {
  /** Gateway: the HTTP request started (fastify's own start, before routing and body). */
  gatewayReceived?: number;
  /** Gateway: the call is about to be sent (on a direct link or NATS). */
  published?: number;
  /** Worker: the call was read (off the link or NATS). */
  workerReceived?: number;
  /** Worker: an instance was admitted and thawed, the request is about to be sent to it. */
  thawed?: number;
  /** Worker: the container's whole answer was read. */
  answered?: number;
  /** Worker: the reply is about to be sent. */
  replySent?: number;
  /** Gateway: the reply was read. */
  replyReceived?: number;
}

/** The worker's marks, in the order the reply header carries them. */
const WORKER_MARKS = ['workerReceived', 'thawed', 'answered', 'replySent'] as const;

/** Epoch ms with sub-ms precision, comparable across processes of one host. */
export function traceNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Asks the worker for its marks (the request side; called only for a traced call). */
export function askTiming(into: WireHeaders): void {
  into.set(InvokeHeader.timing, '1');
}

/** Whether the gateway asked for the worker's marks. */
export function timingAsked(h: WireHeadersIn | undefined): boolean {
  return h?.get(InvokeHeader.timing) === '1';
}

/** Writes the worker's marks into the reply's headers. */
export function encodeWorkerMarks(t: CallTrace, into: WireHeaders): void {
  into.set(InvokeHeader.timing, WORKER_MARKS.map((k) => (t[k] ?? 0).toFixed(3)).join(','));
}

/** Copies the worker's marks from a reply into `t`; a reply without them leaves `t` as it was. */
export function decodeWorkerMarks(h: WireHeadersIn | undefined, t: CallTrace): void {
  const raw = h?.get(InvokeHeader.timing);
  if (!raw) return;
  const values = raw.split(',').map(Number);
  WORKER_MARKS.forEach((k, i) => {
    const v = values[i];
    if (v !== undefined && Number.isFinite(v) && v > 0) t[k] = v;
  });
}

/** The spans of a trace: name, first mark, last mark (what `Server-Timing` reports). */
const SPANS = [
  ['gateway-in', 'gatewayReceived', 'published'],
  ['to-worker', 'published', 'workerReceived'],
  ['admit-thaw', 'workerReceived', 'thawed'],
  ['container', 'thawed', 'answered'],
  ['worker-out', 'answered', 'replySent'],
  ['to-gateway', 'replySent', 'replyReceived'],
] as const;

/** The spans in ms (3 decimals), those whose two marks are known; `total` up to `end`. */
export function traceSpans(t: CallTrace, end: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, from, to] of SPANS) {
    const a = t[from];
    const b = t[to];
    if (a !== undefined && b !== undefined) out[name] = Math.round((b - a) * 1000) / 1000;
  }
  if (t.gatewayReceived !== undefined) out.total = Math.round((end - t.gatewayReceived) * 1000) / 1000;
  return out;
}

/** A `Server-Timing` header value (RFC: `name;dur=ms`, comma-separated) of the spans. */
export function serverTiming(spans: Record<string, number>): string {
  return Object.entries(spans)
    .map(([name, ms]) => `${name};dur=${ms}`)
    .join(', ');
}
