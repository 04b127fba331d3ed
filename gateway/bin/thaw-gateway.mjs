#!/usr/bin/env node
// The gateway as a command (infra/systemd/thaw-gateway.service runs it). Every setting is an
// environment variable; arguments only ask for help or the version, which need no connection.
const HELP = `Usage: thaw-gateway [--help | --version]

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
`;

const shared = await import('@thaw/shared').catch(() => {
  process.stderr.write('thaw-gateway: not built (@thaw/shared has no dist/): run npm run build\n');
  process.exit(1);
});
await shared.runServiceCommand({ name: 'thaw-gateway', help: HELP, root: new URL('../', import.meta.url) });
