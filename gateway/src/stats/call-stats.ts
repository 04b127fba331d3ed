import type { Logger } from '@thaw/shared';
import type { Redis } from 'ioredis';
import type { Invoke } from '../calls/types.js';

export interface CallStatsOptions {
  redis: Redis;
  prefix: string;
  log: Logger;
}

/**
 * Per-function call figures over the last minutes (rate, latency, cold starts, errors), for the
 * dashboard. Seam: issue #16 fills it in.
 */
export class CallStats {
  constructor(readonly o: CallStatsOptions) {}

  /** `invoke`, with each call counted. */
  observe(invoke: Invoke): Invoke {
    return invoke;
  }

  async close(): Promise<void> {}
}
