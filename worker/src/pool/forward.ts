import {
  endToEndHeaders,
  type InvokeAnswer,
  type InvokeFailure,
  type InvokeRequest,
  traceNow,
} from '@thaw/shared';
import { CRASH_EXIT_WAIT_MS } from '../timings.js';
import type { Instance } from './instance.js';
import { requestUpstream } from './upstream.js';

/** A call's result on this worker: the reply, and whether the instance died serving it. */
export type InvokeResult = (InvokeAnswer & { body: Buffer }) | (InvokeFailure & { crashed?: boolean });

// A NATS reply has to fit in max_payload (8 MB as thaw configures it), headers included.
export const MAX_RESPONSE_BYTES = 8 * 1024 * 1024 - 64 * 1024;

/** The part of an instance `forward` uses. */
export type ForwardTarget = Pick<Instance, 'http' | 'container' | 'lambda'>;

/** Sends one request to the instance over its keep-alive pool and reads the whole answer. */
export async function forward(
  inst: ForwardTarget,
  req: InvokeRequest,
  timeoutMs: number,
): Promise<InvokeResult> {
  // Called once admitted and thawed: the trace's mark between the worker and the container.
  if (req.trace) req.trace.thawed = traceNow();
  if (inst.lambda) return inst.lambda.invoke(req, timeoutMs);
  const r = await requestUpstream(inst.http, {
    method: req.method,
    path: req.query ? `${req.path}?${req.query}` : req.path,
    headers: req.headers,
    body: req.body.length > 0 ? Buffer.from(req.body.buffer, req.body.byteOffset, req.body.length) : null,
    timeoutMs,
    maxBytes: MAX_RESPONSE_BYTES,
  });
  switch (r.kind) {
    case 'answer':
      if (req.trace) req.trace.answered = traceNow();
      return { ok: true, status: r.status, headers: endToEndHeaders(r.headers), body: r.body };
    case 'timeout':
      return {
        ok: false,
        code: 'FUNCTION_TIMEOUT',
        message: `the function did not answer within ${timeoutMs} ms`,
      };
    case 'too-large':
      return {
        ok: false,
        code: 'RESPONSE_TOO_LARGE',
        message: `the function's response is larger than ${MAX_RESPONSE_BYTES} bytes`,
      };
    case 'failed':
      return failed(inst, r.error);
  }
}

/** The connection failed or closed without an answer: a crash when the process is gone. */
async function failed(inst: ForwardTarget, err: Error): Promise<InvokeResult> {
  // A reset can come a moment before the kernel marks the process dead.
  if (!(await inst.container.waitExit(CRASH_EXIT_WAIT_MS))) {
    return {
      ok: false,
      code: 'UPSTREAM_ERROR',
      message: `the function closed the connection without an answer (${err.message})`,
    };
  }
  const log = (await inst.container.readLog(1024)).trim().split('\n').slice(-5).join('\n');
  const why = inst.container.oomKilled()
    ? 'was killed for using more memory than its limit (memoryMiB)'
    : 'exited while serving the request';
  return {
    ok: false,
    code: 'FUNCTION_CRASHED',
    message: `the function's process ${why}; it is being replaced.${log ? ` Last output:\n${log}` : ''}`,
    crashed: true,
  };
}
