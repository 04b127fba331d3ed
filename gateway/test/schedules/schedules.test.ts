import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Platform, startPlatform, uploadImage, workerEnvFor } from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tickImage } from './tick-image.js';

const rt = scratchRuntimeOptions('sch');
const PREFIX = `sch${process.pid}`;
let platform: Platform;
let digest: string;

interface Call {
  callId: string;
  function: string;
  source: 'async' | 'schedule';
  schedule?: string;
  scheduledAt?: string;
  status: string;
  attempts: number;
  maxAttempts: number;
  createdAt: string;
  response?: { status: number; body: string };
}

const bodyOf = (c: Call) => JSON.parse(Buffer.from(c.response?.body ?? '', 'base64').toString('utf8'));

async function api(path: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const res = await platform.fetch(`${platform.gatewayUrl}${path}`, {
    ...init,
    headers: init.body ? { 'content-type': 'application/json' } : {},
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function calls(fn: string, query = ''): Promise<Call[]> {
  const { status, body } = await api(`/v1/calls?function=${fn}&limit=200${query}`);
  expect(status, JSON.stringify(body)).toBe(200);
  return (body as { calls: Call[] }).calls;
}

async function waitFor<T>(what: string, read: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const got = await read();
    if (got !== undefined) return got;
    if (Date.now() > until) throw new Error(`timed out waiting: ${what}\n${platform.output().slice(-3000)}`);
    await sleep(250);
  }
}

beforeAll(async () => {
  platform = await startPlatform({
    gatewayPort: 0,
    prefix: PREFIX,
    logs: 'buffer',
    workerEnv: workerEnvFor(rt),
  });
  digest = (await uploadImage(platform.gatewayUrl, await tickImage(rt.stateDir), platform.token)).digest;
}, 180_000);

afterAll(async () => {
  await platform?.close();
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
});

describe('cron schedules', () => {
  it('ticks as calls, listed and read like async ones; an edit replaces the schedule, a delete removes it', async () => {
    const spec = {
      name: 'ticker',
      image: digest,
      maxInstances: 1,
      asyncAttempts: 2,
      schedules: [{ cron: '*/2 * * * * *', path: '/tick?n=1', body: 'hello' }],
    };
    expect((await api('/v1/functions', { method: 'POST', body: JSON.stringify(spec) })).status).toBe(201);

    const ticks = await waitFor('two ticks succeeded', async () => {
      const done = (await calls('ticker', '&status=succeeded')).filter((c) => c.source === 'schedule');
      return done.length >= 2 ? done : undefined;
    });
    const first = ticks[0] as Call;
    const scheduleId = first.schedule as string;
    expect(scheduleId).toMatch(/^ticker\.s-[0-9a-f]{10}$/);
    for (const c of ticks) {
      expect(c).toMatchObject({ function: 'ticker', source: 'schedule', schedule: scheduleId, attempts: 1 });
      // On the schedule's two-second grid; what the function saw is the call's tick.
      expect(Date.parse(c.scheduledAt as string) % 2000).toBe(0);
      expect(c.createdAt).toBe(c.scheduledAt);
      expect(bodyOf(c)).toEqual({
        method: 'POST',
        path: '/tick',
        query: '?n=1',
        body: 'hello',
        schedule: scheduleId,
        scheduledAt: c.scheduledAt,
      });
    }
    // Newest first, each tick once.
    const times = ticks.map((c) => Date.parse(c.scheduledAt as string));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(new Set(times).size).toBe(times.length);
    // A tick's id reads back like an async call's.
    const one = await api(`/v1/calls/${first.callId}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ callId: first.callId, source: 'schedule', status: 'succeeded' });

    // Edited: every tick now fails, and is tried asyncAttempts times before it is dead.
    const edited = { ...spec, schedules: [{ cron: '*/2 * * * * *', path: '/fail' }] };
    const put = await api('/v1/functions/ticker', { method: 'PUT', body: JSON.stringify(edited) });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    const editedAt = Date.now();
    const dead = await waitFor('a tick of the edited schedule is dead', async () =>
      (await calls('ticker', '&status=dead')).find((c) => c.source === 'schedule'),
    );
    expect(dead.schedule).not.toBe(scheduleId);
    expect(dead).toMatchObject({ attempts: 2, maxAttempts: 2, status: 'dead' });
    expect(dead.response?.status).toBe(500);
    expect(bodyOf(dead)).toMatchObject({ path: '/fail', schedule: dead.schedule });
    // The old schedule is gone: none of its ticks came due after the edit (one may have been running).
    const all = await calls('ticker');
    const oldLate = all.filter(
      (c) => c.schedule === scheduleId && Date.parse(c.scheduledAt as string) > editedAt + 2000,
    );
    expect(oldLate).toEqual([]);

    // Deleted: no scheduler is left, and no tick comes.
    expect((await api('/v1/functions/ticker', { method: 'DELETE' })).status).toBe(204);
    const redis = new URL(platform.redisUrl);
    const connection = { host: redis.hostname, port: Number(redis.port) };
    const queue = new Queue('ticker', { connection, prefix: `${PREFIX}:async` });
    try {
      expect(await queue.getJobSchedulersCount()).toBe(0);
      const before = await queue.getJobCounts('waiting', 'delayed', 'active');
      await sleep(2500);
      expect(await queue.getJobCounts('waiting', 'delayed', 'active')).toEqual(before);
      expect(before).toMatchObject({ waiting: 0, delayed: 0, active: 0 });
    } finally {
      await queue.close();
    }
    expect((await api('/v1/calls?function=ticker')).status).toBe(404);
  }, 90_000);

  it('refuses a bad list query with VALIDATION_FAILED naming the field', async () => {
    for (const [q, field] of [
      ['', 'function'],
      ['function=x&limit=0', 'limit'],
      ['function=x&limit=abc', 'limit'],
      ['function=x&status=done', 'status'],
    ] as const) {
      const { status, body } = await api(`/v1/calls?${q}`);
      expect(status).toBe(400);
      expect(body).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
      expect((body as { error: { message: string } }).error.message.startsWith(`${field}:`)).toBe(true);
    }
  });
});
