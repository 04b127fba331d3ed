import { parseArgs } from 'node:util';
import { calls } from './calls.js';
import * as cmd from './commands.js';
import { CONTEXT_USAGE, context } from './context.js';
import { CliError, Exit } from './errors.js';
import * as inspect from './inspect.js';
import { stats } from './stats.js';
import { resolveTarget } from './target.js';

const COMMON = `
Common flags:
  --url URL      gateway
  --token T      admin token
  --context NAME a gateway saved with "thaw context add"
  --json         JSON on stdout (logs: one JSON object a line), errors as JSON on stderr
  -h, --help     this help

Which gateway, first found wins: --url/--token, --context, THAW_URL/THAW_TOKEN, THAW_CONTEXT,
the current context ("thaw context use"), THAW_CONFIG, .thaw/config.json here or above (from
"npm run up"), ~/.config/thaw/config.json, http://localhost:8080. "thaw context show" tells.

Exit codes: 0 ok, 1 the gateway answered an error (its code is printed) or the function
answered 400 or more, 2 bad arguments, 3 the gateway cannot be reached.
`;

type Spec = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

const COMMANDS: Record<
  string,
  { usage: string; summary: string; about: string; options: Spec; admin: boolean }
> = {
  deploy: {
    summary: 'Create or update a function from a directory, an image tar or a registry image.',
    usage: 'thaw deploy [DIR|IMAGE.tar] --name NAME [flags]',
    about:
      'Create or update a function. DIR is built into an image first (see thaw build); a tar is\nuploaded with a progress bar; or --image takes a registry reference or an uploaded digest.\n\n' +
      '  -n, --name NAME        function name\n  -f, --file SPEC.json   spec file (the fields of POST /v1/functions); flags override it\n' +
      '  --image REF            registry reference (host/repo:tag) or sha256 digest\n  -e, --env K=V          environment variable (repeatable)\n' +
      '  --memory MIB, --timeout MS, --port N, --min N, --max N, --concurrency N\n  --invoke-auth public|token',
    options: {
      name: { type: 'string', short: 'n' },
      file: { type: 'string', short: 'f' },
      image: { type: 'string' },
      env: { type: 'string', short: 'e', multiple: true },
      memory: { type: 'string' },
      timeout: { type: 'string' },
      port: { type: 'string' },
      min: { type: 'string' },
      max: { type: 'string' },
      concurrency: { type: 'string' },
      'invoke-auth': { type: 'string' },
    },
    admin: true,
  },
  invoke: {
    summary: 'Call a function (sync, or --async).',
    usage: 'thaw invoke NAME [PATH] [flags]',
    about:
      "Call a function; its answer body goes to stdout.\n\n  -d, --data @FILE|TEXT  request body (POST unless --method)\n  -X, --method M\n  -H, --header 'K: V'    (repeatable)\n" +
      '  --async                queue the call; prints its call id (see thaw calls)\n  --invoke-token T       the function\'s invoke token (for invokeAuth "token")',
    options: {
      data: { type: 'string', short: 'd' },
      method: { type: 'string', short: 'X' },
      header: { type: 'string', short: 'H', multiple: true },
      async: { type: 'boolean' },
      'invoke-token': { type: 'string' },
    },
    admin: false,
  },
  ls: { summary: 'List functions.', usage: 'thaw ls', about: 'List functions.', options: {}, admin: true },
  get: {
    summary: 'Show a function with its instances per worker.',
    usage: 'thaw get NAME',
    about:
      'A function, with its instances per worker: state, revision, calls in progress, the memory\n' +
      'each is charged (its usage when frozen, its limit when running) and its cold start, phase by\n' +
      'phase, with the CPU time it cost. "removed" counts the instances removed, by why: memory\n' +
      '(room made for another), idle-age (past idleTtlMs), requested (thaw scale-to-zero), crashed,\n' +
      'retired (failed calls in a row), closed (function removed or updated).',
    options: {},
    admin: true,
  },
  'scale-to-zero': {
    summary: "Remove a function's idle instances now, down to its minInstances.",
    usage: 'thaw scale-to-zero NAME',
    about:
      'Idle instances are kept frozen (memory, no CPU) until memory is needed. This asks every\n' +
      'worker to remove the idle instances of NAME above its minInstances now; busy ones stay.\n' +
      'The next call after that is a cold start.',
    options: {},
    admin: true,
  },
  logs: {
    summary: "Print or follow a function's stdout and stderr.",
    usage: 'thaw logs NAME [-f] [--since 10m] [--limit N]',
    about: "A function's stdout and stderr lines from every worker; -f follows new lines.",
    options: {
      follow: { type: 'boolean', short: 'f' },
      since: { type: 'string' },
      limit: { type: 'string' },
    },
    admin: true,
  },
  stats: {
    summary: "Show a function's calls per 10 s: rate, errors, cold starts, p50/p99 latency.",
    usage: 'thaw stats NAME [--since 5m]',
    about:
      "A function's calls per 10-second bucket, summed over every gateway (GET /v1/stats): calls,\n" +
      'errors (platform failures and answers of 500 or more), cold starts, rate and p50/p99\n' +
      'latency in ms. --since 30s|5m|1h (at most 1h; 5m by default). Buckets with no call are left out.',
    options: { since: { type: 'string' } },
    admin: true,
  },
  rm: {
    summary: 'Delete a function.',
    usage: 'thaw rm NAME',
    about: 'Delete a function and its instances.',
    options: {},
    admin: true,
  },
  calls: {
    summary: "List a function's calls (async, and its schedules' ticks), or show one.",
    usage: 'thaw calls NAME [--status S] [--limit N] | thaw calls CALL_ID [--wait]',
    about:
      "NAME: the function's calls, newest first (id, source async|schedule, status, tries, created,\n" +
      'finished); --status queued|running|retrying|succeeded|dead, --limit 1-200 (50).\n' +
      "CALL_ID: the call's status and answer; --wait waits until it succeeded or is dead.",
    options: { wait: { type: 'boolean' }, status: { type: 'string' }, limit: { type: 'string' } },
    admin: true,
  },
  context: {
    summary: 'Save gateways by name and pick the one commands use (like docker context).',
    usage: CONTEXT_USAGE,
    about:
      'Named gateways with their admin tokens, kept in $XDG_CONFIG_HOME/thaw/contexts.json\n' +
      '(~/.config/thaw/contexts.json; mode 0600: it holds tokens).\n\n' +
      '  add NAME --url URL [--token T] [--force]   save a gateway (--force replaces one)\n' +
      '  use NAME                                   make it the current context\n' +
      '  ls                                         list them; * marks the current one\n' +
      '  rm NAME                                    forget one\n' +
      '  show                                       the gateway commands would use here, and why',
    options: { force: { type: 'boolean' } },
    admin: false,
  },
  build: {
    summary: 'Build an OCI image from a function directory, without Docker.',
    usage: 'thaw build DIR [-o image.tar] [--push host/repo:tag] [--insecure]',
    about:
      'Build an OCI image from a directory, without Docker, on the node base layer thaw uses:\n' +
      'a handler.mjs (or handler.js) exporting a function of { method, path, query, headers, body }\n' +
      'returning { status, headers, body } is wrapped in an HTTP server; otherwise package.json\n' +
      '"main" (or server.mjs / server.js) runs as an HTTP server on $PORT. Same directory, same digest.',
    options: {
      output: { type: 'string', short: 'o' },
      push: { type: 'string' },
      insecure: { type: 'boolean' },
    },
    admin: false,
  },
};

function help(): string {
  return `thaw: deploy and run container functions.\n\nUsage: thaw COMMAND [args]\n\nCommands:\n${Object.entries(
    COMMANDS,
  )
    .map(([name, c]) => `  ${name.padEnd(13)} ${c.summary}`)
    .join('\n')}\n\n"thaw COMMAND --help" for a command's flags.\n${COMMON}`;
}

/** Runs one command line; resolves to the exit code. */
export async function run(
  argv: string[],
  sink: { out: (s: string) => void; err: (s: string) => void; tty: boolean },
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    sink.out(help());
    return name ? Exit.ok : Exit.usage;
  }
  const c = COMMANDS[name];
  if (!c) {
    sink.err(`thaw: unknown command "${name}"\n\n${help()}`);
    return Exit.usage;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        ...c.options,
        url: { type: 'string' },
        token: { type: 'string' },
        context: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    sink.err(`thaw ${name}: ${(err as Error).message}\nusage: ${c.usage}\n`);
    return Exit.usage;
  }
  const f = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (f.help) {
    sink.out(`usage: ${c.usage}\n\n${c.about}\n${COMMON}`);
    return Exit.ok;
  }
  const io: cmd.Io = { ...sink, asJson: Boolean(f.json) };
  try {
    const a = parsed.positionals;
    // Neither needs a gateway: a broken current context must not stop them.
    if (name === 'context') return await context(io, a, f, env);
    if (name === 'build') return await cmd.build(io, a, f);
    const t = resolveTarget(
      {
        url: f.url as string | undefined,
        token: f.token as string | undefined,
        context: f.context as string | undefined,
        ...(name === 'invoke'
          ? { invokeToken: (f['invoke-token'] as string | undefined) ?? env.THAW_INVOKE_TOKEN }
          : {}),
      },
      env,
    );
    switch (name) {
      case 'deploy':
        return await cmd.deploy(t, io, a, f);
      case 'invoke':
        return await cmd.invoke(t, io, a, f);
      case 'ls':
        return await cmd.ls(t, io);
      case 'get':
        return await inspect.get(t, io, a);
      case 'scale-to-zero':
        return await inspect.scaleToZero(t, io, a);
      case 'logs':
        return await cmd.logs(t, io, a, f);
      case 'rm':
        return await cmd.remove(t, io, a);
      case 'stats':
        return await stats(t, io, a, f);
      default:
        return await calls(t, io, a, f);
    }
  } catch (err) {
    if (err instanceof CliError) {
      sink.err(
        io.asJson
          ? `${JSON.stringify({ error: { code: err.code ?? 'CLI', message: err.message } })}\n`
          : `thaw ${name}: ${err.message}\n`,
      );
      return err.exit;
    }
    sink.err(`thaw ${name}: ${(err as Error).stack ?? String(err)}\n`);
    return Exit.api;
  }
}
