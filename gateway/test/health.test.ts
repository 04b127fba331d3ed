import { type Service, startNats, startRedis } from '@thaw/devkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitAfterTerm, type GatewayProcess, startGatewayProcess } from './gateway-process.js';

let nats: Service;
let redis: Service;
let gateway: GatewayProcess;
let natsPort: number;

beforeAll(async () => {
  [nats, redis] = await Promise.all([startNats(), startRedis()]);
  natsPort = Number(new URL(nats.url).port);
  gateway = await startGatewayProcess({
    NATS_URL: nats.url,
    REDIS_URL: redis.url,
    THAW_PREFIX: `hz${process.pid}`,
  });
});
afterAll(async () => {
  if (gateway) await exitAfterTerm(gateway.child);
  await Promise.all([nats?.close(), redis?.close()]);
});

async function probe(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${gateway.url}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Polls a probe until it answers `status`, or fails with the last answer. */
async function until(path: string, status: number, ms = 15_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + ms;
  let last = await probe(path);
  while (last.status !== status && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    last = await probe(path);
  }
  expect(last.status, JSON.stringify(last.body)).toBe(status);
  return last.body;
}

describe('gateway liveness and readiness, through real NATS and Redis outages', () => {
  it('is live and ready with both up', async () => {
    expect(await probe('/livez')).toEqual({ status: 200, body: { ok: true } });
    expect(await probe('/readyz')).toEqual({ status: 200, body: { ok: true, nats: true, redis: 'ready' } });
    expect((await probe('/healthz')).status).toBe(200);
  });

  it('is not ready while NATS is down (the client still retrying), live all along, and ready again after', async () => {
    await nats.close();
    expect(await until('/readyz', 503)).toMatchObject({ ok: false, nats: false });
    expect((await probe('/healthz')).status).toBe(503);
    expect((await probe('/livez')).status).toBe(200);
    nats = await startNats({ port: natsPort });
    expect(await until('/readyz', 200)).toMatchObject({ ok: true, nats: true });
  });

  it('is not ready while Redis is down, and says so', async () => {
    const redisPort = Number(new URL(redis.url).port);
    await redis.close();
    const body = await until('/readyz', 503);
    expect(body.ok).toBe(false);
    expect(body.nats).toBe(true);
    expect(body.redis).not.toBe('ready');
    expect((await probe('/livez')).status).toBe(200);
    redis = await startRedis({ port: redisPort });
    await until('/readyz', 200, 30_000);
  });
});
