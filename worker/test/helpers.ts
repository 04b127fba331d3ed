import { FunctionRecord, type FunctionSpecInput, type ImageRecord, InvokeHeader } from '@thaw/shared';
import { type Msg, type MsgHdrs, type NatsConnection, RequestStrategy } from 'nats';

/** A function record for `image`, as the gateway would store it. */
export function fnRecordFor(
  image: ImageRecord,
  name: string,
  extra: Partial<FunctionSpecInput> = {},
): FunctionRecord {
  const now = new Date().toISOString();
  return FunctionRecord.parse({
    name,
    image: image.digest,
    imageDigest: image.digest,
    timeoutMs: 5000,
    ...extra,
    createdAt: now,
    updatedAt: now,
  });
}

/**
 * An invocation as the gateway makes it: the worker's "accepted" message first, then the answer.
 * Resolves to the answer and the id of the worker that accepted the call.
 */
export async function callWorker(
  nc: NatsConnection,
  subject: string,
  body: Uint8Array,
  h?: MsgHdrs,
  timeout = 10_000,
): Promise<{ answer: Msg; acceptedBy: string | undefined }> {
  const replies = await nc.requestMany(subject, body, {
    strategy: RequestStrategy.Count,
    maxMessages: 2,
    maxWait: timeout,
    headers: h,
  });
  let acceptedBy: string | undefined;
  for await (const m of replies) {
    if (m.headers?.get(InvokeHeader.accepted)) {
      acceptedBy = m.headers.get(InvokeHeader.accepted);
      continue;
    }
    return { answer: m, acceptedBy };
  }
  throw new Error(`no answer on ${subject}`);
}
