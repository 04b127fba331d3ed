import { createThawClient, isThawApiError, isThawUnreachableError, type ThawClient } from '@thaw/client';
import { CliError, Exit } from './errors.js';
import type { Target } from './target.js';

/** The generated API client for a target: its admin token goes to /v1/* only. */
export function clientFor(t: Target): ThawClient {
  return createThawClient({ baseUrl: t.url, token: t.token });
}

/**
 * Runs calls to the gateway, turning its answers' errors into CliErrors: a catalogue error
 * exits 1 with its code, an unreachable gateway exits 3 and says where the URL came from.
 */
export async function call<T>(t: Target, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isThawUnreachableError(err)) {
      const cause = (err.cause as Error | undefined)?.cause ?? (err.cause as Error | undefined)?.message;
      throw new CliError(
        `cannot reach the gateway at ${t.url} (URL from ${t.from}; ${String(cause)}); is it running (npm run up)? Set --url, THAW_URL or a context (thaw context --help)`,
        Exit.unreachable,
      );
    }
    if (isThawApiError(err)) {
      const hint =
        err.code === 'UNAUTHORIZED'
          ? ' (set --token, THAW_TOKEN, a context with a token, or run from a folder with .thaw/config.json)'
          : '';
      throw new CliError(`${err.code}: ${err.detail}${hint}`, Exit.api, err.code);
    }
    throw err;
  }
}
