import {
  endToEndHeaders,
  type InvokeAnswer,
  type InvokeFailure,
  type InvokeRequest,
  traceNow,
} from '@thaw/shared';
import { CRASH_EXIT_WAIT_MS } from '../timings.js';
import type { Instance } from './instance.js';

/** A call's result on this worker: the reply, and whether the instance died serving it. */
export type InvokeResult = (InvokeAnswer & { body: Buffer }) | (InvokeFailure & { crashed?: boolean });

// A NATS reply has to fit in max_payload (8 MB as thaw configures it), headers included.
export const MAX_RESPONSE_BYTES = 8 * 1024 * 1024 - 64 * 1024;

/** Sends one request to the instance over its keep-alive pool and reads the whole answer. */
export async function forward(inst: Instance, req: InvokeRequest, timeoutMs: number): Promise<InvokeResult> {
  // Called once admitted and thawed: the trace's mark between the worker and the container.
  if (req.trace) req.trace.thawed = traceNow();
  if (inst.lambda) return inst.lambda.invoke(req, timeoutMs);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const res = await inst.http.request({
      method: req.method as 'GET',
      path: req.query ? `${req.path}?${req.query}` : req.path,
      headers: req.headers,
      body: req.body.length > 0 ? Buffer.from(req.body.buffer, req.body.byteOffset, req.body.length) : null,
      signal: abort.signal,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_RESPONSE_BYTES) {
        res.body.destroy();
        return {
          ok: false,
          code: 'RESPONSE_TOO_LARGE',
          message: `the function's response is larger than ${MAX_RESPONSE_BYTES} bytes`,
        };
      }
      chunks.push(chunk as Buffer);
    }
    if (req.trace) req.trace.answered = traceNow();
    return {
      ok: true,
      status: res.statusCode,
      headers: endToEndHeaders(res.headers),
      body: Buffer.concat(chunks, size),
    };
  } catch (err) {
    if (abort.signal.aborted) {
      return {
        ok: false,
        code: 'FUNCTION_TIMEOUT',
        message: `the function did not answer within ${timeoutMs} ms`,
      };
    }
    // A reset can come a moment before the kernel marks the process dead.
    if (!(await inst.container.waitExit(CRASH_EXIT_WAIT_MS))) {
      return {
        ok: false,
        code: 'UPSTREAM_ERROR',
        message: `the function closed the connection without an answer (${(err as Error).message})`,
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
  } finally {
    clearTimeout(timer);
  }
}
