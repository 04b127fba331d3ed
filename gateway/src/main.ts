import { createLogger, natsConnectOptions, natsConnectProblem } from '@thaw/shared';
import { Redis } from 'ioredis';
import { connect } from 'nats';
import { buildApp } from './app.js';
import { loadEnv } from './env.js';
import { natsPayloadProblem } from './limits.js';
import { redisOptions } from './redis.js';
import { startupRedisProblem } from './redis-check.js';

const env = loadEnv();
const logger = createLogger('gateway', env.LOG_LEVEL);
const nc = await connect(natsConnectOptions(env, 'thaw-gateway')).catch((err: unknown) => {
  logger.fatal(natsConnectProblem(err, env));
  process.exit(1);
});
// Checked, not assumed: a body the server cannot carry would fail every large call at run time.
const payloadProblem = natsPayloadProblem(nc.info?.max_payload ?? 0, env.MAX_BODY_BYTES);
if (payloadProblem) {
  logger.fatal(payloadProblem);
  await nc.close();
  process.exit(1);
}
const redis = new Redis(redisOptions(env));
// ioredis reconnects by itself; without a listener each failed attempt is an "unhandled" error.
redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
// Before serving: a wrong password or an evicting Redis would otherwise show up as failed calls.
const redisProblem = await startupRedisProblem(redis, logger);
if (redisProblem) {
  logger.fatal(redisProblem);
  redis.disconnect();
  await nc.close();
  process.exit(1);
}
const app = await buildApp({ nc, redis, config: env, logger });
let closing: Promise<void> | undefined;
const close = () => {
  closing ??= (async () => {
    // Past the drain time, connections still open (a client that never finishes its request, a
    // call that never ends) are cut: an orchestrator waiting for the exit must not wait forever.
    const cut = setTimeout(() => {
      logger.warn({ drainMs: env.GATEWAY_DRAIN_MS }, 'drain time over: cutting the connections still open');
      app.server.closeAllConnections();
      process.exit(0);
    }, env.GATEWAY_DRAIN_MS);
    // In order: stop taking requests (in-flight ones finish), then the connections.
    for (const [name, fn] of [
      ['http', () => app.close()],
      ['nats', () => nc.drain()],
      ['redis', async () => (redis.status === 'ready' ? await redis.quit() : redis.disconnect())],
    ] as const) {
      try {
        await fn();
      } catch (err) {
        logger.error({ err }, `closing ${name} failed`);
      }
    }
    clearTimeout(cut);
  })();
  return closing;
};
// Before listening and announcing readiness: a parent may send SIGTERM the instant it hears
// "ready", and without a handler yet the default action kills the process undrained.
for (const sig of ['SIGTERM', 'SIGINT'] as const)
  process.on(sig, () => void close().then(() => process.exit(0)));

const url = await app.listen({ port: env.PORT, host: env.HOST });
// A parent that started us with an IPC channel (npm run up, tests) learns where we listen.
process.send?.({ ready: true, url });
