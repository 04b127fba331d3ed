import { type FunctionRecord, ThawError, TRIGGER_HOPS_HEADER } from '@thaw/shared';
import type { NatsConnection } from 'nats';
import type { Envelope, Invoke } from '../calls/types.js';
import { asThawError, type Outcome, resultOf } from './mapping.js';

/** What every trigger needs to make its calls. */
export interface CallDeps {
  nc: NatsConnection;
  /** The function as stored now (each message is called with its current revision). */
  current: (name: string) => Promise<FunctionRecord | undefined>;
  invoke: Invoke;
}

/** One call of `fn` for a message: the function's answer, or the failure, never a throw. */
export async function callFunction(d: CallDeps, fn: string, env: Envelope): Promise<Outcome> {
  try {
    const record = await d.current(fn);
    if (!record) return new ThawError('FUNCTION_NOT_FOUND', `function "${fn}" was deleted`);
    return await d.invoke(record, env);
  } catch (err) {
    return asThawError(err);
  }
}

/**
 * Publishes a call's result to each subject given (the requester's inbox, the trigger's
 * replySubject), with the hop count of the message that made the call (`hops`) plus one.
 */
export function publishResult(
  nc: NatsConnection,
  to: (string | undefined)[],
  fn: string,
  subject: string,
  outcome: Outcome,
  hops: number,
): void {
  const targets = to.filter((s): s is string => s !== undefined && s !== '');
  if (targets.length === 0) return;
  const { data, headers } = resultOf(fn, subject, outcome);
  headers.set(TRIGGER_HOPS_HEADER, String(hops + 1));
  for (const t of targets) nc.publish(t, data, { headers });
}
