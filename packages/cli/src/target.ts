import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { findContext, readContexts } from './contexts.js';
import { CliError, Exit } from './errors.js';

export interface Target {
  url: string;
  /** The admin token (sent to /v1/* only, never to a function's route). */
  token?: string;
  /** A function's invoke token (`thaw invoke` only). */
  invokeToken?: string;
  /** Where the URL came from, for error messages. */
  from: string;
}

export interface TargetFlags {
  url?: string | undefined;
  token?: string | undefined;
  invokeToken?: string | undefined;
  context?: string | undefined;
}

const trim = (u: string) => u.replace(/\/+$/, '');

/**
 * The gateway URL and token, first found wins (docs: packages/cli/README.md, "Which gateway"):
 * --url/--token; --context NAME; THAW_URL/THAW_TOKEN; THAW_CONTEXT; the current context
 * (`thaw context use`); THAW_CONFIG, then the nearest `.thaw/config.json` (written by
 * `npm run up`) from the current folder upwards, then `~/.config/thaw/config.json`; last,
 * http://localhost:8080. `invokeToken` is passed only by the command that sends one.
 */
export function resolveTarget(flags: TargetFlags, env = process.env, cwd = process.cwd()): Target {
  const invoke = flags.invokeToken ? { invokeToken: flags.invokeToken } : {};
  const store = readContexts(env);
  // A context named by flag beats THAW_URL; THAW_URL beats one named by THAW_CONTEXT or `use`.
  const named = flags.context ?? (env.THAW_URL ? undefined : (env.THAW_CONTEXT ?? store.current));
  if (named) {
    const ctx = findContext(store, named, env);
    const how = flags.context ? '--context' : env.THAW_CONTEXT ? 'THAW_CONTEXT' : 'the current context';
    const url = trim(flags.url ?? ctx.url);
    // The context's own token goes to its own URL only. THAW_TOKEN never goes to a context's URL:
    // it belongs with THAW_URL (which, when set, beats THAW_CONTEXT and `use`), as a token from
    // the environment never goes to a URL from a config file either.
    const token = flags.token ?? (url === trim(ctx.url) ? ctx.token : undefined);
    return {
      url,
      ...(token ? { token } : {}),
      ...invoke,
      from: flags.url ? 'flags' : `context "${named}" (${how})`,
    };
  }
  return fromFiles(flags, env, cwd);
}

/** The rules from before contexts: flags and environment, then config files, then localhost. */
function fromFiles(flags: TargetFlags, env: NodeJS.ProcessEnv, cwd: string): Target {
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
