/**
 * `npm run up`: NATS and Redis (unless NATS_URL / REDIS_URL are set), one worker, the gateway on
 * :8080 (PORT; 0 picks a free port) and the example function. Everything lives under .thaw/ in
 * the repo (THAW_UP_DIR puts it elsewhere; the worker's THAW_STATE_DIR and THAW_RUN_DIR are
 * taken from the environment when set); Ctrl-C stops it all and removes every container.
 * A server or process that dies is restarted; one that dies more than 3 times in a minute stops
 * the whole run (exit status 1) with a message naming it, rather than leaving it half-running.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildTestImage } from '@thaw/runtime/testimages';
import { ApiError, deployFunction, uploadImage } from './client.js';
import { type Platform, startPlatform } from './platform.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const data = resolve(process.env.THAW_UP_DIR ?? join(repo, '.thaw'));
await mkdir(join(data, 'nats'), { recursive: true });
await mkdir(join(data, 'redis'), { recursive: true });

let platform: Platform | undefined;
let stopRequested = false;
let stopping = false;
const shutdown = async (code: number) => {
  stopRequested = true;
  // A Ctrl-C while starting is acted on once the start is over: everything started is stopped.
  if (stopping || !platform) return;
  stopping = true;
  console.log('\nthaw: stopping (removing containers) ...');
  await platform.close();
  console.log('thaw: stopped');
  process.exit(code);
};
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

console.log('thaw: starting NATS, Redis, a worker and the gateway ...');
platform = await startPlatform({
  natsUrl: process.env.NATS_URL,
  redisUrl: process.env.REDIS_URL,
  natsDir: join(data, 'nats'),
  redisDir: join(data, 'redis'),
  gatewayPort: Number(process.env.PORT ?? 8080),
  logs: 'inherit',
  logLevel: process.env.LOG_LEVEL ?? 'warn',
  workerEnv: {
    THAW_STATE_DIR: process.env.THAW_STATE_DIR ?? join(data, 'worker'),
    THAW_RUN_DIR: process.env.THAW_RUN_DIR ?? '/run/thaw',
  },
  // The admin token: THAW_ADMIN_TOKEN, or the one the gateway makes on its first start.
  ...(process.env.THAW_ADMIN_TOKEN ? { adminToken: process.env.THAW_ADMIN_TOKEN } : {}),
  tokenFile: join(data, 'admin-token'),
  supervise: {
    onRestart: (r) => console.error(`thaw: the ${r.name} died (${r.exit}) and was restarted`),
    // Everything was stopped (and the containers removed) before this is called.
    onStop: (err) => {
      console.error(`\nthaw: ${err.message}`);
      process.exit(1);
    },
  },
});
if (stopRequested) await shutdown(0);
// The port the gateway bound (PORT=0 picks one).
const port = new URL(platform.gatewayUrl).port;

// The CLI (thaw ...) finds the gateway and the token here, from this folder or below it.
await writeFile(
  join(data, 'config.json'),
  `${JSON.stringify({ url: `http://localhost:${port}`, token: platform.token }, null, 2)}\n`,
  { mode: 0o600 },
);
// The mode above applies only to a new file; one left by an earlier run may have another.
await chmod(join(data, 'config.json'), 0o600);

try {
  const image = await buildTestImage('node-hello', 'oci', join(data, 'images'));
  const { digest } = await uploadImage(platform.gatewayUrl, image.path, platform.token);
  await deployFunction(platform.gatewayUrl, { name: 'hello', image: digest }, platform.token).catch(
    (err: unknown) => {
      if (!(err instanceof ApiError && err.code === 'FUNCTION_EXISTS')) throw err;
    },
  );
  console.log(`
thaw is running: gateway ${platform.gatewayUrl}, function "hello" deployed (node-hello, ${digest.slice(0, 19)}...).
Try:

  curl -s 'http://localhost:${port}/fn/hello/greet?name=thaw' -H 'x-demo: 1'

The admin API (/v1/*) needs the admin token, kept in ${join(data, 'admin-token')}:

  curl -s localhost:${port}/v1/functions -H "authorization: Bearer $(cat ${join(data, 'admin-token')})"

Dashboard: http://localhost:${port}/ui (sign in with that token; it is kept in the tab only).
Metrics (Prometheus): ${platform.gatewayUrl}/metrics (gateway), ${platform.workerMetricsUrl ?? 'none'} (worker).
Ctrl-C stops everything and removes every container.
`);
} catch (err) {
  console.error('thaw: deploying the example function failed:', err);
  await shutdown(1);
}
