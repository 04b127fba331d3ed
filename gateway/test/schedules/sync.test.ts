import { type Service, startRedis } from '@thaw/devkit';
import { createLogger, FunctionRecord } from '@thaw/shared';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEEP_TICKS, tickJobOpts } from '../../src/async/calls.js';
import { scheduleIds } from '../../src/schedules/ids.js';
import { removeSchedulers, type SchedulerSyncOptions, syncSchedulers } from '../../src/schedules/sync.js';

const PREFIX = 'syncsch';
const quiet = createLogger('schedules-sync-test', 'silent');
let redis: Service;
let queue: Queue;

const record = (revision: number, cron: string | undefined, createdAt = '2026-01-01T00:00:00.000Z') =>
  FunctionRecord.parse({
    name: 'report',
    image: `sha256:${'a'.repeat(64)}`,
    revision,
    schedules: cron ? [{ cron }] : [],
    createdAt,
    updatedAt: createdAt,
  });
const idOf = (fn: FunctionRecord) => scheduleIds(fn.name, fn.schedules, fn.asyncAttempts);
const schedulers = async () => (await queue.getJobSchedulers()).map((s) => s.key).sort();

/** The function as stored: what a fresh read returns. */
let stored: FunctionRecord | undefined;
const claimKey = (id: string) => `${PREFIX}:schedules:claim:${id}`;
const revKey = `${PREFIX}:schedules:rev:report`;
const sync = (fn: FunctionRecord, current = async () => stored) => {
  const o: SchedulerSyncOptions = {
    queue,
    fn,
    jobOpts: tickJobOpts(fn.asyncAttempts),
    claimKey,
    revKey,
    current,
    log: quiet,
  };
  return syncSchedulers(o);
};

beforeAll(async () => {
  redis = await startRedis();
  const url = new URL(redis.url);
  queue = new Queue('report', {
    connection: { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null },
    prefix: `${PREFIX}:async`,
  });
}, 30_000);

afterAll(async () => {
  await queue?.close();
  await redis?.close();
});

describe('syncing schedulers from lists of different ages', () => {
  it('a gateway holding an old copy does not undo an edit, and the edit stays in place', async () => {
    const v1 = record(1, '*/2 * * * * *');
    const v2 = record(2, '*/5 * * * * *');
    stored = v1;
    await sync(v1); // A creates v1
    expect(await schedulers()).toEqual(idOf(v1));
    // Each tick keeps its result for a while, but a per-second schedule not 86 400 of them.
    const made = await queue.getJobScheduler(idOf(v1)[0] as string);
    expect(made?.template?.opts).toMatchObject({
      removeOnComplete: { count: KEEP_TICKS },
      removeOnFail: { count: KEEP_TICKS },
    });
    stored = v2;
    await sync(v2); // A: PUT v2, then its sync
    expect(await schedulers()).toEqual(idOf(v2));
    await sync(v1); // B: a periodic sync that read the list before the PUT
    expect(await schedulers()).toEqual(idOf(v2));
    // Its fresh read came before the PUT too: the newest version acted on (v2) still wins.
    stored = v1;
    await sync(v1);
    stored = v2;
    expect(await schedulers()).toEqual(idOf(v2));
    await sync(v2); // B: its sync on the change
    await sync(v2); // A: its periodic sync
    expect(await schedulers()).toEqual(idOf(v2));
  });

  it('a sync whose copy is newest by its list but not by the store acts on nothing', async () => {
    const v3 = record(3, '*/3 * * * * *');
    // v3's sync comes first of all (nobody has acted on v3 or later), but v4 is stored already.
    stored = record(4, '*/5 * * * * *');
    await sync(v3);
    expect(await schedulers()).toEqual(idOf(record(2, '*/5 * * * * *')));
  });

  it('an edit undone at once brings the first schedule back at once: removing drops the claim', async () => {
    const a = record(5, '*/7 * * * * *');
    const none = record(6, undefined);
    const back = record(7, '*/7 * * * * *');
    for (const v of [a, none, back]) {
      stored = v;
      await sync(v);
      expect(await schedulers()).toEqual(idOf(v));
    }
  });

  it('a function deleted and created again (revision 1 anew) is newer than the old one', async () => {
    const again = record(1, '*/9 * * * * *', '2026-02-01T00:00:00.000Z');
    stored = again;
    await sync(again);
    expect(await schedulers()).toEqual(idOf(again));
  });

  it('a function created again through a gateway whose clock is behind gets its schedulers', async () => {
    // createdAt is the creating gateway's wall clock: earlier than the deleted one's here.
    const behind = record(1, '*/11 * * * * *', '2026-01-15T00:00:00.000Z');
    stored = behind;
    await sync(behind);
    expect(await schedulers()).toEqual(idOf(behind));
  });

  it('deleting forgets the version: one created again in the same millisecond is acted on', async () => {
    const at = '2026-03-01T00:00:00.000Z';
    const old = record(3, '*/13 * * * * *', at);
    stored = old;
    await sync(old);
    stored = undefined;
    await removeSchedulers(queue, claimKey, revKey);
    expect(await schedulers()).toEqual([]);
    const again = record(1, '*/17 * * * * *', at);
    stored = again;
    await sync(again);
    expect(await schedulers()).toEqual(idOf(again));
  });

  it('a function deleted while its scheduler is being created keeps no scheduler', async () => {
    await removeSchedulers(queue, claimKey, revKey);
    const fn = record(1, '*/19 * * * * *', '2026-04-01T00:00:00.000Z');
    // Stored for the reads before the create; deleted (and discarded, nothing to remove yet)
    // before the upsert lands.
    let reads = 0;
    await sync(fn, async () => (++reads <= 2 ? fn : undefined));
    expect(reads).toBe(3);
    expect(await schedulers()).toEqual([]);
    expect(await (await queue.client).runCommand('exists', [claimKey(idOf(fn)[0] as string)])).toBe(0);
    await queue.obliterate({ force: true });
  });
});
