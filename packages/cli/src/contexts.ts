import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError, Exit } from './errors.js';

/** A named gateway, as `thaw context add` stores it. */
export interface Context {
  url: string;
  /** The admin token; sent to this URL only. */
  token?: string;
}

export interface ContextStore {
  /** The context used when no flag or environment variable names a gateway. */
  current?: string;
  contexts: Record<string, Context>;
}

/** Letters, digits, '.', '_' and '-', starting with a letter or digit (like docker context names). */
export const CONTEXT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** $XDG_CONFIG_HOME/thaw/contexts.json, else ~/.config/thaw/contexts.json. */
export function contextsFile(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME ?? homedir(), '.config');
  return join(base, 'thaw', 'contexts.json');
}

export function readContexts(env: NodeJS.ProcessEnv): ContextStore {
  const file = contextsFile(env);
  if (!existsSync(file)) return { contexts: {} };
  let parsed: Partial<ContextStore>;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<ContextStore>;
  } catch (err) {
    throw new CliError(`${file} is not valid JSON (${(err as Error).message})`, Exit.usage);
  }
  return { ...(parsed.current ? { current: parsed.current } : {}), contexts: parsed.contexts ?? {} };
}

/**
 * Writes the store readable by its owner only (it holds tokens): a new file made 0600 and renamed
 * over the old one, so a reader never sees half a file and an old file's wider mode does not stay.
 */
export function writeContexts(env: NodeJS.ProcessEnv, store: ContextStore): string {
  const file = contextsFile(env);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(store, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return file;
}

/** The named context, or a usage error that lists the known ones. */
export function findContext(store: ContextStore, name: string, env: NodeJS.ProcessEnv): Context {
  const ctx = store.contexts[name];
  if (ctx) return ctx;
  const known = Object.keys(store.contexts).sort();
  throw new CliError(
    `no context "${name}" in ${contextsFile(env)} (${known.length ? `known: ${known.join(', ')}` : 'none yet'}); add it: thaw context add ${name} --url URL [--token T]`,
    Exit.usage,
    'CONTEXT_NOT_FOUND',
  );
}
