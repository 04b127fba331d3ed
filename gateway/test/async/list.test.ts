import { setTimeout as sleep } from 'node:timers/promises';
import { type Service, startRedis } from '@thaw/devkit';
import { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIST_FIELD_MAX, listCalls } from '../../src/async/list.js';
import type { CallData, StoredAnswer } from '../../src/async/records.js';

const PREFIX = 'listcalls';
let redis: Service;
let connection: { host: string; port: number; maxRetriesPerRequest: null };

beforeAll(async () => {
  redis = await startRedis();
  const url = new URL(redis.url);
  connection = { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null };
}, 30_000);

afterAll(async () => {
  await redis?.close();
});

const b64 = (n: number) => Buffer.alloc(n, 7).toString('base64');
const data = (body: string): CallData => ({
  fn: 'big',
  envelope: { method: 'POST', path: '/', query: '', headers: {}, body },
});

describe('GET /v1/calls reads', () => {
  it('short answers whole, large ones without their bodies, newest first; no upcoming tick', async () => {
    const queue = new Queue<CallData, StoredAnswer>('big', { connection, prefix: `${PREFIX}:async` });
    const answers: Record<string, string> = { 'big.small': b64(100), 'big.large': b64(LIST_FIELD_MAX * 4) };
    const worker = new Worker<CallData, StoredAnswer>(
      'big',
      async (job) => ({ status: 200, headers: {}, body: answers[job.id as string] ?? '', truncated: false }),
      { connection, prefix: `${PREFIX}:async`, autorun: false },
    );
    try {
      await queue.add('call', data(b64(10)), { jobId: 'big.small' });
      await sleep(5); // a later creation time
      await queue.add('call', data(b64(LIST_FIELD_MAX * 4)), { jobId: 'big.large' });
      const done = new Promise<void>((resolve) => {
        let n = 0;
        worker.on('completed', () => ++n === 2 && resolve());
      });
      void worker.run();
      await done;
      // A schedule's next tick, not yet due: no call yet.
      await queue.add('call', data(''), {
        jobId: `repeat:big.s-0123456789:${Date.now() + 60_000}`,
        delay: 60_000,
      });

      const calls = await listCalls(queue as unknown as Queue, 'big', { limit: 10 });
      expect(calls.map((c) => c.callId)).toEqual(['big.large', 'big.small']);
      const [large, small] = calls;
      expect(small?.response).toMatchObject({ status: 200, body: answers['big.small'], truncated: false });
      expect(large?.response).toMatchObject({ status: 200, body: '', truncated: true });
      expect(large).toMatchObject({ status: 'succeeded', attempts: 1, source: 'async' });
      expect(await listCalls(queue as unknown as Queue, 'big', { limit: 1 })).toHaveLength(1);
      expect(
        (await listCalls(queue as unknown as Queue, 'big', { limit: 10, status: 'queued' })).map(
          (c) => c.callId,
        ),
      ).toEqual([]);
    } finally {
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
});
