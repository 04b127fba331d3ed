import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { type Service, startNats, startRedis } from '@thaw/devkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NATS_HEADER_ROOM, natsPayloadProblem } from '../src/limits.js';

describe('natsPayloadProblem', () => {
  it('accepts a max_payload that fits the body and its headers, exactly at the edge too', () => {
    expect(natsPayloadProblem(8 * 1000 * 1000, 6 * 1024 * 1024)).toBeUndefined();
    expect(natsPayloadProblem(1024 + NATS_HEADER_ROOM, 1024)).toBeUndefined();
  });

  it('names both settings and the size needed when the body cannot fit', () => {
    const problem = natsPayloadProblem(1024 * 1024, 6 * 1024 * 1024);
    expect(problem).toContain('max_payload (1048576 bytes)');
    expect(problem).toContain('MAX_BODY_BYTES (6291456 bytes)');
    expect(problem).toContain(`at least ${6 * 1024 * 1024 + NATS_HEADER_ROOM}`);
    expect(natsPayloadProblem(1023 + NATS_HEADER_ROOM, 1024)).toBeDefined();
  });
});

describe('the gateway at start, against a real nats-server', () => {
  let nats: Service;
  let redis: Service;
  beforeAll(async () => {
    [nats, redis] = await Promise.all([startNats({ maxPayload: '1MB' }), startRedis()]);
  });
  afterAll(async () => {
    await Promise.all([nats?.close(), redis?.close()]);
  });

  it('refuses to start when max_payload cannot carry MAX_BODY_BYTES, and says which settings to change', async () => {
    const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
    const child = spawn(process.execPath, [main], {
      env: { ...process.env, NATS_URL: nats.url, REDIS_URL: redis.url, PORT: '0', HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(1);
    expect(output).toContain('max_payload (1048576 bytes)');
    expect(output).toContain('MAX_BODY_BYTES (6291456 bytes)');
  });

  it('starts when MAX_BODY_BYTES fits the same server', async () => {
    const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
    const child = spawn(process.execPath, [main], {
      env: {
        ...process.env,
        NATS_URL: nats.url,
        REDIS_URL: redis.url,
        MAX_BODY_BYTES: String(512 * 1024),
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'silent',
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const [message] = (await once(child, 'message')) as [{ ready?: boolean }];
    expect(message.ready).toBe(true);
    child.kill('SIGTERM');
    await once(child, 'exit');
  });
});
