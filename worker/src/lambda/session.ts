import type { InvokeRequest } from '@thaw/shared';
import type { InvokeResult } from '../pool/forward.js';

/**
 * How calls reach an instance of a `lambda` function: not over HTTP to its port, but as events
 * its runtime takes from the Lambda Runtime API the worker serves it (docs/lambda.md). The
 * factory gives each such instance one; forward() hands it the call.
 */
export interface LambdaSession {
  invoke(req: InvokeRequest, timeoutMs: number): Promise<InvokeResult>;
}
