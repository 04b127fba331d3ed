import { setTimeout as sleep } from 'node:timers/promises';
import { type Service, startRedis } from '@thaw/devkit';
import { createLogger, FunctionRecord } from '@thaw/shared';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AsyncCalls } from '../../src/async/calls.js';

const PREFIX = 'syncorder';
let redis: Service;

beforeAll(async () => {
  redis = await startRedis();
}, 30_000);

afterAll(async () => {
  await redis?.close();
});

describe('AsyncCalls.sync', () => {
  it('runs one sync at a time, in call order', async () => {
    const fn = scheduled('report');
    let inFlight = 0;
    let most = 0;
    const calls = new AsyncCalls({
      ...options(),
      // Slow enough that two overlapping syncs would both be inside it.
      current: async () => {
        most = Math.max(most, ++inFlight);
        await sleep(100);
        inFlight--;
        return fn;
      },
    });
    const queue = new Queue('report', { connection: connection(), prefix: `${PREFIX}:async` });
    try {
      // The periodic sync and one on a change, at once.
      await Promise.all([calls.sync([fn]), calls.sync([fn])]);
      expect(most).toBe(1);
      expect(await queue.getJobSchedulersCount()).toBe(1);
    } finally {
      await calls.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('closes after a sync under way, which opens no consumer once closing', async () => {
    const fn = scheduled('late');
    const calls = new AsyncCalls({
      ...options(),
      // The sync is inside this read when close() is called.
      current: async () => {
        await sleep(300);
        return fn;
      },
    });
    const queue = new Queue('late', { connection: connection(), prefix: `${PREFIX}:async` });
    try {
      const syncing = calls.sync([fn]);
      await sleep(50);
      await calls.close();
      await syncing;
      // A consumer opened after close() would be connected still, with nobody to close it.
      await sleep(200);
      expect(await queue.getWorkersCount()).toBe(0);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('a newer list replaces one waiting: a list overtaken before its turn is never applied', async () => {
    const fns = ['first', 'skipped', 'last'].map((name) => scheduled(name));
    const [first, skipped, last] = fns as [FunctionRecord, FunctionRecord, FunctionRecord];
    const read: string[] = [];
    const calls = new AsyncCalls({
      ...options(),
      current: async (name) => {
        read.push(name);
        await sleep(100);
        return fns.find((f) => f.name === name);
      },
    });
    try {
      const one = calls.sync([first]);
      await sleep(30);
      // Both arrive while the first is under way: only the newest of them is applied.
      await Promise.all([one, calls.sync([skipped]), calls.sync([last])]);
      expect(read).not.toContain('skipped');
      expect(read).toContain('last');
    } finally {
      await calls.close();
      await obliterate(fns.map((f) => f.name));
    }
  });

  it('a function dropped from the list leaves no Redis connection behind', async () => {
    const fn = unscheduled('dropped');
    const calls = new AsyncCalls({ ...options(), current: async () => fn });
    const probe = new Queue('probe', { connection: connection(), prefix: `${PREFIX}:async` });
    const clients = async () =>
      String(await (await probe.client).runCommand('client', ['list']))
        .split('\n')
        .filter((l) => l.trim()).length;
    try {
      const before = await clients();
      await calls.sync([fn]);
      expect(await clients()).toBeGreaterThan(before);
      await calls.sync([]); // it was deleted, on another gateway
      await sleep(200);
      expect(await clients()).toBe(before);
    } finally {
      await calls.close();
      await probe.close();
      await obliterate(['dropped']);
    }
  });

  it('a discard waits for the sync under way: no scheduler or consumer outlives it', async () => {
    const fn = scheduled('gone');
    // The store still has it for the sync's reads: the delete lands in between on this gateway.
    const calls = new AsyncCalls({
      ...options(),
      current: async () => {
        await sleep(200);
        return fn;
      },
    });
    const queue = new Queue('gone', { connection: connection(), prefix: `${PREFIX}:async` });
    try {
      const syncing = calls.sync([fn]);
      await sleep(50);
      await Promise.all([syncing, calls.discard('gone')]);
      await sleep(200);
      expect(await queue.getJobSchedulersCount()).toBe(0);
      expect(await queue.getWorkersCount()).toBe(0);
    } finally {
      await calls.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
});

function connection() {
  const url = new URL(redis.url);
  return { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null };
}

function options(): ConstructorParameters<typeof AsyncCalls>[0] {
  return {
    allowPrivateCallbacks: false,
    outageBudgetMs: 1000,
    connection: connection(),
    prefix: PREFIX,
    current: async () => undefined,
    invoke: async () => {
      throw new Error('no call expected');
    },
    log: createLogger('sync-order-test', 'silent'),
    lockMs: 30_000,
  };
}

async function obliterate(names: string[]): Promise<void> {
  for (const name of names) {
    const q = new Queue(name, { connection: connection(), prefix: `${PREFIX}:async` });
    await q.obliterate({ force: true });
    await q.close();
  }
}

/** A function with one schedule (once a year: no tick comes during a test). */
function scheduled(name: string): FunctionRecord {
  return FunctionRecord.parse({ ...unscheduled(name), schedules: [{ cron: '0 0 1 1 *' }] });
}

function unscheduled(name: string): FunctionRecord {
  return FunctionRecord.parse({
    name,
    image: `sha256:${'a'.repeat(64)}`,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  });
}
