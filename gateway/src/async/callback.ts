import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { checkTarget, type GuardOptions, type Logger, pinnedLookup, type Resolved } from '@thaw/shared';
import type { Job } from 'bullmq';
import type { CallbackRecord, CallData, CallStatus, StoredAnswer } from './records.js';

export type { CallbackRecord };

export interface CallbackRequest {
  url: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** How long one try may take, connecting included. */
export const CALLBACK_TIMEOUT_MS = 10_000;
/** Tries per callback; the waits between them grow by CALLBACK_BACKOFF_MS each time. */
export const CALLBACK_TRIES = 3;
export const CALLBACK_BACKOFF_MS = 500;
/** The setting that lets callbacks go to private addresses, named when one is refused. */
export const CALLBACK_SETTING = 'ASYNC_CALLBACK_PRIVATE=allow';

/** Why a callback URL may not be called (see checkTarget), or undefined. */
export async function callbackRefusal(url: string, allowPrivate: boolean): Promise<string | undefined> {
  const target = await checkTarget(url, { allowPrivate, allowedBy: CALLBACK_SETTING });
  return target.ok ? undefined : target.reason;
}

/** One POST to the checked address, the URL's host kept for Host, SNI and the certificate. */
function post(req: CallbackRequest, address: Resolved): Promise<number> {
  const url = new URL(req.url);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const r = send(
      url,
      {
        method: 'POST',
        headers: { ...req.headers, 'content-length': String(req.body.length) },
        lookup: pinnedLookup(address),
        // A pooled socket could be one opened to another address for the same name.
        agent: false,
        signal: AbortSignal.timeout(CALLBACK_TIMEOUT_MS),
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    r.end(req.body);
  });
}

/**
 * Posts a call's result to its callback URL: resolved once and checked (see checkTarget), then
 * up to CALLBACK_TRIES tries to that address. Redirects are not followed: one could lead anywhere, the
 * checked host's own network included.
 */
export async function deliver(
  req: CallbackRequest,
  guard: GuardOptions,
  pause = (ms: number) => new Promise((r) => setTimeout(r, ms)),
): Promise<CallbackRecord> {
  const at = () => new Date().toISOString();
  const target = await checkTarget(req.url, guard);
  if (!target.ok) return { status: 'refused', reason: target.reason, tries: 0, at: at() };
  let last: Omit<CallbackRecord, 'tries' | 'at'> = { status: 'failed' };
  for (let tries = 1; tries <= CALLBACK_TRIES; tries++) {
    try {
      const status = await post(req, target.address);
      if (status >= 200 && status < 300) return { status: 'sent', responseStatus: status, tries, at: at() };
      if (status >= 300 && status < 400) {
        return {
          status: 'failed',
          reason: 'answered a redirect; not followed',
          responseStatus: status,
          tries,
          at: at(),
        };
      }
      last = { status: 'failed', reason: `answered ${status}`, responseStatus: status };
    } catch (err) {
      last = { status: 'failed', reason: (err as Error).message };
    }
    if (tries < CALLBACK_TRIES) await pause(CALLBACK_BACKOFF_MS * tries);
  }
  return { ...last, tries: CALLBACK_TRIES, at: at() };
}

/**
 * Posts a finished call's result to its X-Callback-Url (the function's body, status in a
 * header) and records on the call what became of it: sent, failed, or refused by the address
 * guard.
 */
export async function notify(
  job: Job<CallData>,
  answer: StoredAnswer | undefined,
  status: CallStatus,
  o: { allowPrivate: boolean; log: Logger },
): Promise<void> {
  const url = job.data.callbackUrl;
  if (!url) return;
  const headers: Record<string, string> = {
    'x-thaw-call-id': job.id ?? '',
    'x-thaw-call-status': status,
    'x-thaw-function-status': String(answer?.status ?? 0),
  };
  const ct = answer?.headers['content-type'];
  if (typeof ct === 'string') headers['content-type'] = ct;
  const body = answer ? Buffer.from(answer.body, 'base64') : Buffer.alloc(0);
  const record = await deliver(
    { url, headers, body },
    { allowPrivate: o.allowPrivate, allowedBy: CALLBACK_SETTING },
  ).catch((err: Error) => ({
    status: 'failed' as const,
    reason: err.message,
    tries: 0,
    at: new Date().toISOString(),
  }));
  if (record.status !== 'sent') o.log.warn({ call: job.id, ...record }, `callback ${record.status}`);
  await job
    .updateData({ ...job.data, callback: record })
    .catch((err: Error) => o.log.warn({ call: job.id, err: err.message }, 'recording the callback failed'));
}
