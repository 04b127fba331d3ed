import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';
import type { NatsConnection } from 'nats';

/**
 * Liveness and readiness, as orchestrators probe them. `/livez`: the process answers (restart it
 * when it does not). `/readyz` (and `/healthz`, its older name): the gateway can serve calls now,
 * i.e. NATS is connected, not merely "not closed" while the client retries, and Redis is ready.
 */
export function healthRoutes(app: FastifyInstance, nc: NatsConnection, redis: Redis): void {
  let natsConnected = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'staleConnection') natsConnected = false;
      else if (s.type === 'reconnect') natsConnected = true;
    }
  })();
  app.get('/livez', async () => ({ ok: true }));
  const ready = async (_req: unknown, reply: FastifyReply) => {
    const nats = natsConnected && !nc.isClosed();
    const ok = nats && redis.status === 'ready';
    return reply.code(ok ? 200 : 503).send({ ok, nats, redis: redis.status });
  };
  app.get('/readyz', ready);
  app.get('/healthz', ready);
}
