#!/usr/bin/env node
// A worker as a command (infra/systemd/thaw-worker.service runs it). Every setting is an
// environment variable; arguments only ask for help or the version, which need no connection.
const HELP = `Usage: thaw-worker [--help | --version]

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
exits 0.
`;

const shared = await import('@thaw/shared').catch(() => {
  process.stderr.write('thaw-worker: not built (@thaw/shared has no dist/): run npm run build\n');
  process.exit(1);
});
await shared.runServiceCommand({ name: 'thaw-worker', help: HELP, root: new URL('../', import.meta.url) });
