import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageStore } from '@thaw/runtime';
import { ThawError } from '@thaw/shared';
import { connect, type NatsConnection } from 'nats';
import { describe, expect, it } from 'vitest';
import { ImageFetcher } from '../../src/images/fetcher.js';
import { isStoreTransient, withStoreRetry } from '../../src/images/store-retry.js';

/** A clock that moves only when the code under test sleeps. */
function fakeTime() {
  let t = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: async (ms: number) => {
      slept.push(ms);
      t += ms;
    },
  };
}

const timeout = Object.assign(new Error('TIMEOUT'), { code: 'TIMEOUT' });

describe('withStoreRetry', () => {
  it('tries again, waiting longer each time, until the store answers', async () => {
    const time = fakeTime();
    let calls = 0;
    const got = await withStoreRetry(
      'reading x',
      async () => {
        calls++;
        if (calls < 4) throw timeout;
        return 'archive';
      },
      { budgetMs: 10_000, ...time },
    );
    expect(got).toBe('archive');
    expect(time.slept).toEqual([250, 500, 1000]);
  });

  it('gives IMAGE_STORE_UNAVAILABLE (503) once the budget is spent', async () => {
    const time = fakeTime();
    const err = await withStoreRetry('reading x', () => Promise.reject(timeout), {
      budgetMs: 3000,
      ...time,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ThawError);
    expect((err as ThawError).code).toBe('IMAGE_STORE_UNAVAILABLE');
    expect((err as ThawError).status).toBe(503);
    expect(time.now()).toBeLessThanOrEqual(3000);
  });

  it('passes other errors on at once', async () => {
    const time = fakeTime();
    const other = new ThawError('IMAGE_NOT_FOUND', 'gone');
    await expect(withStoreRetry('x', () => Promise.reject(other), time)).rejects.toBe(other);
    expect(time.slept).toEqual([]);
  });

  it('knows the transient shapes of nats.js errors', () => {
    expect(isStoreTransient(timeout)).toBe(true);
    expect(isStoreTransient({ code: '503' })).toBe(true);
    expect(isStoreTransient({ code: '400', api_error: { code: 503, err_code: 10008 } })).toBe(true);
    expect(isStoreTransient({ code: '404', api_error: { code: 404 } })).toBe(false);
    expect(isStoreTransient(new Error('boom'))).toBe(false);
  });
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** nats-server takes a moment to listen. */
async function connectSoon(port: number): Promise<NatsConnection> {
  for (let i = 0; ; i++) {
    try {
      return await connect({ servers: `127.0.0.1:${port}` });
    } catch (err) {
      if (i >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe('an import while no JetStream answers (real nats-server without JetStream)', () => {
  it('fails with IMAGE_STORE_UNAVAILABLE after the retry budget, not a bare NATS error', async () => {
    const port = await freePort();
    const proc = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    const dir = await mkdtemp(join(tmpdir(), 'thaw-storeretry-'));
    try {
      const nc = await connectSoon(port);
      try {
        const store = new ImageStore(join(dir, 'images'));
        const fetcher = new ImageFetcher({ js: nc.jetstream(), store, storeRetry: { budgetMs: 1500 } });
        const t0 = Date.now();
        const err = await fetcher.importObject('some-object').catch((e: unknown) => e);
        expect((err as ThawError).code).toBe('IMAGE_STORE_UNAVAILABLE');
        expect(Date.now() - t0).toBeGreaterThanOrEqual(700);
      } finally {
        await nc.close();
      }
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
