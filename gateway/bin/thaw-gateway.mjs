#!/usr/bin/env node
// The gateway as a command (infra/systemd/thaw-gateway.service runs it). Every setting is an
// environment variable; arguments only ask for help or the version, which need no connection.
import { readFileSync } from 'node:fs';

const NAME = 'thaw-gateway';
/** sysexits' EX_CONFIG: the units do not restart on it (RestartPreventExitStatus), a bad setting stays bad. */
const EXIT_CONFIG = 78;
const EXIT_USAGE = 2;
const HELP = `Usage: ${NAME} [--help | --version]

Runs the thaw gateway: the HTTP API in front of NATS (workers, images) and Redis (functions,
async calls). Settings are environment variables (docs/configuration.md); under systemd they
are read from /etc/thaw/gateway.env (example: infra/systemd/gateway.env). The main ones:
  PORT, HOST                     where the API listens (8080, 0.0.0.0)
  NATS_URL                       NATS servers, comma-separated (nats://127.0.0.1:4222)
  NATS_USER + NATS_PASSWORD      NATS credentials, or NATS_TOKEN; NATS_TLS_CA/_CERT/_KEY for TLS
  REDIS_URL                      one Redis server (redis://127.0.0.1:6379), or
  REDIS_SENTINELS                sentinels (host:port, comma-separated) + REDIS_MASTER_NAME
  REDIS_PASSWORD                 Redis password (REDIS_SENTINEL_PASSWORD for the sentinels)
  THAW_ADMIN_TOKEN               admin token (unset: made on first start, see THAW_TOKEN_FILE)
  THAW_JS_REPLICAS               JetStream copies of uploaded images (3 on a 3-node NATS cluster)
SIGTERM drains: requests in flight finish (up to GATEWAY_DRAIN_MS), then it exits 0.
A bad setting is named on stderr and the exit status is ${EXIT_CONFIG}.
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
