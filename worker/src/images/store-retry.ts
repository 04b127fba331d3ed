import { ThawError } from '@thaw/shared';

/**
 * How long a read of the image object store is retried while JetStream cannot answer: a NATS
 * cluster that lost the node leading the image stream elects a new leader in a few seconds, and
 * its API requests time out meanwhile.
 */
export const STORE_RETRY_BUDGET_MS = 15_000;
const FIRST_WAIT_MS = 250;
const MAX_WAIT_MS = 2000;

/**
 * JetStream could not answer now, but may soon: a request timed out, nobody answered (503: no
 * JetStream server reachable, or none with the stream's leader), or the API said 503 itself.
 */
export function isStoreTransient(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; api_error?: { code?: unknown } };
  return e.code === 'TIMEOUT' || e.code === '503' || e.api_error?.code === 503;
}

export interface StoreRetryOptions {
  budgetMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/**
 * `op`, tried again with a doubling wait while it fails transiently; past the budget
 * IMAGE_STORE_UNAVAILABLE (503: the caller may retry), never a bare NATS error (a 500).
 */
export async function withStoreRetry<T>(
  what: string,
  op: () => Promise<T>,
  o: StoreRetryOptions = {},
): Promise<T> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const until = now() + (o.budgetMs ?? STORE_RETRY_BUDGET_MS);
  let wait = FIRST_WAIT_MS;
  for (;;) {
    try {
      return await op();
    } catch (err) {
      if (!isStoreTransient(err)) throw err;
      if (now() + wait > until) {
        throw new ThawError(
          'IMAGE_STORE_UNAVAILABLE',
          `${what}: the image store (NATS JetStream) did not answer for ${o.budgetMs ?? STORE_RETRY_BUDGET_MS} ms (${(err as Error).message})`,
          { cause: err },
        );
      }
      await sleep(wait);
      wait = Math.min(wait * 2, MAX_WAIT_MS);
    }
  }
}
