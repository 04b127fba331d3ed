import type { FunctionRecord, Logger } from '@thaw/shared';
import type { NatsConnection } from 'nats';
import type { Invoke } from '../calls/types.js';

export interface TriggersOptions {
  nc: NatsConnection;
  /** THAW_PREFIX: thaw's own subjects are never a trigger's. */
  prefix: string;
  /** The function as stored now. */
  current: (name: string) => Promise<FunctionRecord | undefined>;
  invoke: Invoke;
  log: Logger;
}

/**
 * Calls functions for the messages on their triggers' NATS subjects and JetStream streams, on
 * every gateway (queue groups and one shared consumer make each message one call). Seam: issue
 * #16 fills it in.
 */
export class Triggers {
  constructor(readonly o: TriggersOptions) {}

  /** Listens for the triggers of `functions` (and stops listening for the others'). */
  async sync(_functions: FunctionRecord[]): Promise<void> {}

  async close(): Promise<void> {}
}
