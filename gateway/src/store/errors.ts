import { ThawError } from '@thaw/shared';

/** Redis is unreachable: a 503 the client may retry, never a 500. */
export function storeUnavailable(cause?: unknown): ThawError {
  return new ThawError(
    'STORE_UNAVAILABLE',
    'the gateway cannot reach its store (Redis) right now; try again in a few seconds',
    { cause },
  );
}

/** The one wording of a missing function, wherever a name is looked up. */
export function functionNotFound(name: string): ThawError {
  return new ThawError('FUNCTION_NOT_FOUND', `no function named "${name}"`);
}

export function isStoreUnavailable(err: unknown): boolean {
  return err instanceof ThawError && err.code === 'STORE_UNAVAILABLE';
}
