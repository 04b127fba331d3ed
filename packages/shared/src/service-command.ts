import { readFileSync } from 'node:fs';

/** sysexits' EX_CONFIG: the units do not restart on it (RestartPreventExitStatus), a bad setting stays bad. */
export const EXIT_CONFIG = 78;
export const EXIT_USAGE = 2;

export interface ServiceCommand {
  /** The command's name, as on the PATH (`thaw-gateway`). */
  name: string;
  /** What --help prints (the settings come from the environment). */
  help: string;
  /** The package's folder as a file URL ending in "/": package.json, dist/env.js, dist/main.js. */
  root: URL;
}

function fail(name: string, message: string, status: number): never {
  process.stderr.write(`${name}: ${message}\n`);
  process.exit(status);
}

/**
 * A service's command line (thaw-gateway, thaw-worker; infra/systemd runs them): arguments only
 * ask for help or the version, which need no connection; every setting is an environment
 * variable, checked before the service starts so that a bad one is named on stderr, without a
 * stack trace, with exit status EXIT_CONFIG.
 */
export async function runServiceCommand(c: ServiceCommand, args = process.argv.slice(2)): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(
      `${c.help}A bad setting is named on stderr and the exit status is ${EXIT_CONFIG}.\n`,
    );
    process.exit(0);
  }
  if (args.includes('--version') || args.includes('-V')) {
    const pkg = JSON.parse(readFileSync(new URL('package.json', c.root), 'utf8')) as { version: string };
    process.stdout.write(`${c.name} ${pkg.version}\n`);
    process.exit(0);
  }
  const [first] = args;
  if (first !== undefined) {
    fail(c.name, `unknown argument ${first} (settings are environment variables; see --help)`, EXIT_USAGE);
  }
  const built = new URL('dist/env.js', c.root);
  const envModule = (await import(built.href).catch((err: { code?: string }) => {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    fail(c.name, `not built (${built.pathname} is missing): run npm run build`, 1);
  })) as { loadEnv: () => unknown };
  // Checked before main.js reads it again: its throw would reach the user as a stack trace.
  try {
    envModule.loadEnv();
  } catch (err) {
    fail(c.name, err instanceof Error ? err.message : String(err), EXIT_CONFIG);
  }
  await import(new URL('dist/main.js', c.root).href);
}
