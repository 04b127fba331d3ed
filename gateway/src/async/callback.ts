import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { checkTarget, type GuardOptions, pinnedLookup, type Resolved } from '@thaw/shared';

/** What became of a call's callback, kept with the call. */
export interface CallbackRecord {
  status: 'sent' | 'refused' | 'failed';
  /** Why it was refused, or why the last try failed. */
  reason?: string;
  /** The receiver's HTTP status, when it answered. */
  responseStatus?: number;
  /** Tries made (a refused callback makes none). */
  tries: number;
  at: string;
}

export interface CallbackRequest {
  url: string;
  headers: Record<string, string>;
  body: Buffer;
}

const TIMEOUT_MS = 10_000;
const TRIES = 3;

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
        signal: AbortSignal.timeout(TIMEOUT_MS),
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
 * up to three tries to that address. Redirects are not followed: one could lead anywhere, the
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
  for (let tries = 1; tries <= TRIES; tries++) {
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
    if (tries < TRIES) await pause(500 * tries);
  }
  return { ...last, tries: TRIES, at: at() };
}
