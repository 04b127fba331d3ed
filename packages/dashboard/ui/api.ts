// The page's only way to the gateway: same-origin /v1 calls with the admin token as a bearer.

/** sessionStorage key of the admin token: gone when the tab closes, never sent by the browser on its own. */
const TOKEN_KEY = 'thaw.adminToken';

export const session = {
  token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  signIn(token: string): void {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  signOut(): void {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** An error answer of the API: its code and message, as the gateway gave them. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function isApiError(err: unknown): err is ApiError {
  return err instanceof ApiError;
}

/** Listeners told when the gateway refuses the token (the page goes back to sign-in). */
const refused = new Set<(message: string) => void>();
export function onUnauthorized(listener: (message: string) => void): () => void {
  refused.add(listener);
  return () => refused.delete(listener);
}

/**
 * A /v1 URL relative to the page (served at <base>/ui/): the gateway that served the page, under
 * whatever path a proxy put it.
 */
export function apiUrl(path: string): string {
  return new URL(`../${path.replace(/^\//, '')}`, new URL('.', location.href)).toString();
}

/** fetch with the admin token; an error answer becomes an ApiError (a 401 also signs out). */
export async function call(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = session.token();
  if (token) headers.set('authorization', `Bearer ${token}`);
  const res = await fetch(apiUrl(path), { ...init, headers, credentials: 'omit', cache: 'no-store' });
  if (res.ok) return res;
  let code = `HTTP_${res.status}`;
  let message = res.statusText;
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    code = body.error?.code ?? code;
    message = body.error?.message ?? message;
  } catch {
    // Not the API's JSON error (a proxy's page): the status says it.
  }
  // Only the first refusal of a token signs out: the calls sent with it at the same time are
  // refused too, and their bodies may be cut by the views they belonged to going away.
  if (res.status === 401 && token !== null && session.token() === token) {
    session.signOut();
    for (const l of refused) l(`${code}: ${message}`);
  }
  throw new ApiError(res.status, code, message);
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  return (await (await call(path, signal ? { signal } : {})).json()) as T;
}

export async function sendJson<T>(method: 'POST' | 'PUT', path: string, body: unknown): Promise<T> {
  const res = await call(path, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await res.json()) as T;
}

export async function remove(path: string): Promise<void> {
  await call(path, { method: 'DELETE' });
}

/** An error as the page shows it: the API's code and message, or what the browser said. */
export function describe(err: unknown): string {
  if (isApiError(err)) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
