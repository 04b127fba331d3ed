import { once } from 'node:events';
import { type Socket, connect as tcpConnect } from 'node:net';
import { type Service, startNats, startRedis } from '@thaw/devkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitAfterTerm, startGatewayProcess } from './gateway-process.js';

const DRAIN_MS = 1500;
let nats: Service;
let redis: Service;

beforeAll(async () => {
  [nats, redis] = await Promise.all([startNats(), startRedis()]);
});
afterAll(async () => {
  await Promise.all([nats?.close(), redis?.close()]);
});

const startGateway = () =>
  startGatewayProcess({
    NATS_URL: nats.url,
    REDIS_URL: redis.url,
    THAW_PREFIX: `sd${process.pid}`,
    GATEWAY_DRAIN_MS: String(DRAIN_MS),
  });

describe('gateway shutdown (SIGTERM)', () => {
  it('exits at once, drained (code 0), when nothing is in flight, even on a SIGTERM sent the instant it is ready', async () => {
    // Three times: the signal handler once came after the ready message, and a SIGTERM sent
    // right away killed about one gateway in three undrained (killed by the signal, no exit code).
    for (let i = 0; i < 3; i++) {
      const { child } = await startGateway();
      const { ms, code } = await exitAfterTerm(child);
      expect(code).toBe(0);
      expect(ms).toBeLessThan(DRAIN_MS);
    }
  });

  it('exits within GATEWAY_DRAIN_MS although a client holds a request open, and cuts that connection', async () => {
    const { child, port } = await startGateway();
    // A client that announced a body and never sends it: the request stays in flight forever.
    const socket: Socket = tcpConnect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('POST /fn/nobody/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\npartial');
    const cut = once(socket, 'close');
    await new Promise((r) => setTimeout(r, 200));
    const { ms, code } = await exitAfterTerm(child);
    expect(code).toBe(0);
    expect(ms).toBeGreaterThanOrEqual(DRAIN_MS - 100);
    expect(ms).toBeLessThan(DRAIN_MS + 3000);
    await cut;
  });
});
