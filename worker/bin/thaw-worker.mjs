#!/usr/bin/env node
// A worker as a command (infra/systemd/thaw-worker.service runs it). Every setting is an
// environment variable; arguments only ask for help or the version, which need no connection.
import { readFileSync } from 'node:fs';

const NAME = 'thaw-worker';
/** sysexits' EX_CONFIG: the units do not restart on it (RestartPreventExitStatus), a bad setting stays bad. */
const EXIT_CONFIG = 78;
const EXIT_USAGE = 2;
const HELP = `Usage: ${NAME} [--help | --version]

Runs a thaw worker: it keeps each function's instances as frozen runc containers on this host and
serves the calls NATS brings. It needs root (runc, overlay mounts, network namespaces, cgroups).
Settings are environment variables (docs/configuration.md); under systemd they are read from
/etc/thaw/worker.env (example: infra/systemd/worker.env). The main ones:
  NATS_URL                       NATS servers, comma-separated (nats://127.0.0.1:4222)
  NATS_USER + NATS_PASSWORD      NATS credentials, or NATS_TOKEN; NATS_TLS_CA/_CERT/_KEY for TLS
  WORKER_ID                      its name (<hostname>-<pid>)
  THAW_STATE_DIR, THAW_RUN_DIR   images and bundles (/var/lib/thaw), runc state (/run/thaw)
  THAW_BRIDGE, THAW_SUBNET       the instances' bridge and addresses (thaw0, 10.209.0.0/16)
  THAW_MEMORY_MIB                memory it commits to instances (80% of the host)
  THAW_METRICS_PORT              GET /metrics (9464)
SIGTERM drains: it leaves placement, lets calls in flight finish, removes its containers and
exits 0. A bad setting is named on stderr and the exit status is ${EXIT_CONFIG}.
`;

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(HELP);
  process.exit(0);
}
if (args.includes('--version') || args.includes('-V')) {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${NAME} ${pkg.version}\n`);
  process.exit(0);
}
if (args.length > 0) {
  process.stderr.write(
    `${NAME}: unknown argument ${args[0]} (settings are environment variables; see --help)\n`,
  );
  process.exit(EXIT_USAGE);
}

const built = new URL('../dist/env.js', import.meta.url);
const { loadEnv } = await import(built.href).catch((err) => {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
  process.stderr.write(`${NAME}: not built (${built.pathname} is missing): run npm run build\n`);
  process.exit(1);
});
// Checked before main.js reads it again: its throw would reach the user as a stack trace.
try {
  loadEnv();
} catch (err) {
  process.stderr.write(`${NAME}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(EXIT_CONFIG);
}
await import('../dist/main.js');
