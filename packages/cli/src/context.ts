import type { Io } from './commands.js';
import { CONTEXT_NAME, contextsFile, findContext, readContexts, writeContexts } from './contexts.js';
import { CliError, Exit } from './errors.js';
import { table } from './format.js';
import { resolveTarget } from './target.js';

type Flags = Record<string, string | boolean | string[] | undefined>;

export const CONTEXT_USAGE =
  'thaw context add NAME --url URL [--token T] [--force] | use NAME | ls | rm NAME | show';

/** `thaw context ...`: named gateways with their admin tokens, like `docker context`. */
export async function context(io: Io, args: string[], f: Flags, env: NodeJS.ProcessEnv): Promise<number> {
  const [verb, name, ...extra] = args;
  if (extra.length) throw new CliError(`unexpected arguments: ${extra.join(' ')}`, Exit.usage);
  const store = readContexts(env);
  const say = (text: string, json: unknown) => io.out(io.asJson ? `${JSON.stringify(json)}\n` : `${text}\n`);
  const needName = () => {
    if (!name) throw new CliError(`a context name is needed\nusage: ${CONTEXT_USAGE}`, Exit.usage);
    return name;
  };
  switch (verb) {
    case 'add': {
      const n = needName();
      if (!CONTEXT_NAME.test(n))
        throw new CliError(`"${n}": a context name is letters, digits, ".", "_" and "-"`, Exit.usage);
      const url = typeof f.url === 'string' ? f.url : undefined;
      if (!url || !/^https?:\/\/[^/]/.test(url) || !URL.canParse(url))
        throw new CliError(
          `--url: an http:// or https:// gateway URL is needed (got "${url ?? ''}")`,
          Exit.usage,
        );
      if (store.contexts[n] && !f.force)
        throw new CliError(`context "${n}" exists; --force replaces it`, Exit.usage, 'CONTEXT_EXISTS');
      const token = typeof f.token === 'string' ? f.token : undefined;
      store.contexts[n] = { url: url.replace(/\/+$/, ''), ...(token ? { token } : {}) };
      const file = writeContexts(env, store);
      say(
        `added context "${n}" (${store.contexts[n]?.url}) to ${file}${store.current === n ? '' : `; use it: thaw context use ${n}`}`,
        { added: n, file },
      );
      return Exit.ok;
    }
    case 'use': {
      const n = needName();
      findContext(store, n, env);
      store.current = n;
      writeContexts(env, store);
      say(`current context: ${n}`, { current: n });
      return Exit.ok;
    }
    case 'rm': {
      const n = needName();
      findContext(store, n, env);
      delete store.contexts[n];
      if (store.current === n) delete store.current;
      writeContexts(env, store);
      say(`removed context "${n}"`, { removed: n });
      return Exit.ok;
    }
    case 'ls': {
      const rows = Object.entries(store.contexts)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([n, c]) => ({
          name: n,
          current: n === store.current,
          url: c.url,
          token: Boolean(c.token),
        }));
      if (io.asJson) io.out(`${JSON.stringify(rows)}\n`);
      else if (rows.length === 0) io.out(`no contexts in ${contextsFile(env)}; add one: thaw context add\n`);
      else
        io.out(
          table([
            ['NAME', 'URL', 'TOKEN'],
            ...rows.map((r) => [`${r.name}${r.current ? ' *' : ''}`, r.url, r.token ? 'set' : 'none']),
          ]),
        );
      return Exit.ok;
    }
    case 'show': {
      // The gateway the other commands would use here, and why: the precedence, resolved.
      const t = resolveTarget(
        {
          url: typeof f.url === 'string' ? f.url : undefined,
          token: typeof f.token === 'string' ? f.token : undefined,
          context: typeof f.context === 'string' ? f.context : undefined,
        },
        env,
      );
      say(`${t.url} (from ${t.from}; ${t.token ? 'with' : 'no'} admin token)`, {
        url: t.url,
        from: t.from,
        token: Boolean(t.token),
      });
      return Exit.ok;
    }
    default:
      throw new CliError(`${verb ? `unknown: "${verb}"; ` : ''}usage: ${CONTEXT_USAGE}`, Exit.usage);
  }
}
