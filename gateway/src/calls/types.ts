import type { FunctionRecord, HeaderMap, InvokeRequest } from '@thaw/shared';

/** What a call carries to the function: the HTTP request, less the route prefix. */
export type Envelope = InvokeRequest & { body: Buffer };

/** The function's answer, whatever its status. */
export interface Answer {
  status: number;
  headers: HeaderMap;
  body: Buffer;
  /** The call waited for an instance started for it (the worker's `thaw-cold` reply header). */
  cold?: true;
}

/** One call of a function: its answer, or a ThawError for a platform failure. */
export type Invoke = (fn: FunctionRecord, env: Envelope) => Promise<Answer>;
