import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/** Exit codes scripts can rely on. */
export const Exit = {
  ok: 0,
  /** The gateway answered an error (its catalogue code is printed), or a function answered >= 400. */
  api: 1,
  /** Bad flags or arguments. */
  usage: 2,
  /** The gateway could not be reached. */
  unreachable: 3,
} as const;

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exit: number,
    readonly code?: string,
  ) {
    super(message);
  }
}

export interface Target {
  url: string;
  /** The admin token (sent to /v1/* and /async/*, never to a function's route). */
  token?: string;
  /** A function's invoke token (`thaw invoke` only). */
  invokeToken?: string;
  /** Where the URL came from, for error messages. */
  from: string;
}

const trim = (u: string) => u.replace(/\/+$/, '');

/**
 * The gateway URL and token: flags first, then THAW_URL / THAW_TOKEN, then the nearest
 * `.thaw/config.json` (written by `npm run up`) from the current folder upwards, then
 * `~/.config/thaw/config.json`, then http://localhost:8080. `invokeToken` is passed only by the
 * command that sends one (`thaw invoke`).
 */
export function resolveTarget(
  flags: { url?: string | undefined; token?: string | undefined; invokeToken?: string | undefined },
  env = process.env,
  cwd = process.cwd(),
): Target {
  let file: { url?: string; token?: string } = {};
  let from = 'defaults';
  const candidates: string[] = [];
  if (env.THAW_CONFIG) candidates.push(resolve(env.THAW_CONFIG));
  for (let d = resolve(cwd); ; d = dirname(d)) {
    candidates.push(join(d, '.thaw', 'config.json'));
    if (dirname(d) === d) break;
  }
  candidates.push(join(env.HOME ?? homedir(), '.config', 'thaw', 'config.json'));
  for (const c of candidates) {
    if (!existsSync(c)) continue;
    try {
      file = JSON.parse(readFileSync(c, 'utf8')) as typeof file;
      from = c;
      break;
    } catch {
      throw new CliError(`${c} is not valid JSON`, Exit.usage);
    }
  }
  // A token given by flag or environment never goes to a URL from a config file (a folder's
  // .thaw/config.json is not to be trusted with it): without an explicit URL, localhost.
  const explicitToken = flags.token ?? env.THAW_TOKEN;
  const explicitUrl = flags.url ?? env.THAW_URL;
  const fileUrl = explicitToken || flags.invokeToken ? undefined : file.url;
  const url = trim(explicitUrl ?? fileUrl ?? 'http://localhost:8080');
  // And a config file's token goes only to that file's URL.
  const token = explicitToken ?? (file.url !== undefined && url === trim(file.url) ? file.token : undefined);
  return {
    url,
    ...(token ? { token } : {}),
    ...(flags.invokeToken ? { invokeToken: flags.invokeToken } : {}),
    from: explicitUrl
      ? 'flags/env'
      : fileUrl
        ? from
        : file.url
          ? `defaults: a token from a flag or the environment is not sent to the URL in ${from}`
          : 'defaults',
  };
}

/** A request to the gateway; an error answer becomes a CliError with its catalogue code. */
export async function request(t: Target, path: string, init: RequestInit = {}): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(`${t.url}${path}`, {
      ...init,
      headers: {
        ...(t.token ? { authorization: `Bearer ${t.token}` } : {}),
        ...(init.headers as Record<string, string> | undefined),
      },
      ...(init.body && typeof init.body === 'object' && 'pipe' in init.body ? { duplex: 'half' } : {}),
    } as RequestInit);
  } catch (err) {
    throw new CliError(
      `cannot reach the gateway at ${t.url} (URL from ${t.from}; ${(err as Error).cause ?? (err as Error).message}); is it running (npm run up)? Set --url or THAW_URL`,
      Exit.unreachable,
    );
  }
  return res;
}

/** Throws the gateway's catalogue error for an error answer from thaw itself. */
export async function check(res: Response): Promise<Response> {
  if (res.ok) return res;
  const text = await res.text();
  let code = res.headers.get('x-thaw-error') ?? 'HTTP_ERROR';
  let message = text;
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    code = body.error?.code ?? code;
    message = body.error?.message ?? text;
  } catch {
    // not JSON
  }
  const hint =
    code === 'UNAUTHORIZED' ? ' (set --token, THAW_TOKEN, or run from a folder with .thaw/config.json)' : '';
  throw new CliError(`${code}: ${message}${hint}`, Exit.api, code);
}

export async function json<T>(t: Target, path: string, init: RequestInit = {}): Promise<T> {
  return (await (await check(await request(t, path, init))).json()) as T;
}
