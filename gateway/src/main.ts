import { createLogger } from '@thaw/shared';
import { Redis } from 'ioredis';
import { connect } from 'nats';
import { buildApp } from './app.js';
import { loadEnv } from './env.js';
import { natsPayloadProblem } from './limits.js';

const env = loadEnv();
const logger = createLogger('gateway', env.LOG_LEVEL);
const nc = await connect({ servers: env.NATS_URL, name: 'thaw-gateway', maxReconnectAttempts: -1 });
// Checked, not assumed: a body the server cannot carry would fail every large call at run time.
const payloadProblem = natsPayloadProblem(nc.info?.max_payload ?? 0, env.MAX_BODY_BYTES);
if (payloadProblem) {
  logger.fatal(payloadProblem);
  await nc.close();
  process.exit(1);
}
const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: 3 });
// ioredis reconnects by itself; without a listener each failed attempt is an "unhandled" error.
redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
const app = await buildApp({ nc, redis, config: env, logger });
const url = await app.listen({ port: env.PORT, host: env.HOST });
// A parent that started us with an IPC channel (npm run up, tests) learns where we listen.
process.send?.({ ready: true, url });

let closing: Promise<void> | undefined;
const close = () => {
  closing ??= (async () => {
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
  })();
  return closing;
};
for (const sig of ['SIGTERM', 'SIGINT'] as const)
  process.on(sig, () => void close().then(() => process.exit(0)));
