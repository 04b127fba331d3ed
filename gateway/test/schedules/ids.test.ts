import { Schedule } from '@thaw/shared';
import { describe, expect, it } from 'vitest';
import { callIdOfJob, jobIdOfCall, scheduleIds, tickOfCall, tickOfJob } from '../../src/schedules/ids.js';
import { planSchedulers, tickData } from '../../src/schedules/sync.js';

const every2s = Schedule.parse({ cron: '*/2 * * * * *', path: '/tick?full=1', body: 'hi' });

describe('schedule ids', () => {
  it('are stable, start with the function, and change with anything that shapes a tick', () => {
    const [id] = scheduleIds('hello', [every2s], 3);
    expect(id).toMatch(/^hello\.s-[0-9a-f]{10}$/);
    expect(scheduleIds('hello', [every2s], 3)).toEqual([id]);
    // The cron's spacing is not a change.
    expect(scheduleIds('hello', [{ ...every2s, cron: ' */2 * * * *  * ' }], 3)).toEqual([id]);
    const edits = [
      { ...every2s, cron: '*/3 * * * * *' },
      { ...every2s, timezone: 'Europe/Paris' },
      { ...every2s, method: 'GET' as const },
      { ...every2s, path: '/tock' },
      { ...every2s, body: 'ho' },
    ];
    for (const edited of edits) expect(scheduleIds('hello', [edited], 3)[0]).not.toBe(id);
    expect(scheduleIds('hello', [every2s], 4)[0]).not.toBe(id);
    expect(scheduleIds('other', [every2s], 3)[0]).not.toBe(id);
  });

  it('tell identical schedules of one function apart', () => {
    const [a, b, c] = scheduleIds('hello', [every2s, every2s, every2s], 3);
    expect(b).toBe(`${a}-2`);
    expect(c).toBe(`${a}-3`);
  });

  it("map a tick's BullMQ job id to the API's call id and back, and leave async ids alone", () => {
    const [id] = scheduleIds('hello', [every2s], 3);
    const jobId = `repeat:${id}:1767225600000`;
    const callId = callIdOfJob(jobId);
    expect(callId).toBe(`${id}.1767225600000`);
    expect(callId.slice(0, callId.indexOf('.'))).toBe('hello');
    expect(jobIdOfCall(callId)).toBe(jobId);
    expect(tickOfJob(jobId)).toEqual({ scheduleId: id, at: 1767225600000 });
    expect(tickOfCall(callId)).toEqual({ scheduleId: id, at: 1767225600000 });
    expect(tickOfCall(`${id}-2.1767225600000`)).toEqual({ scheduleId: `${id}-2`, at: 1767225600000 });

    const asyncId = 'hello.0b9e6a4c-6f1e-4c43-9d7e-2f4b3c1a5d6e';
    expect(callIdOfJob(asyncId)).toBe(asyncId);
    expect(jobIdOfCall(asyncId)).toBe(asyncId);
    for (const made of [
      'hello.s-xyz.1',
      'repeat:hello:1',
      'hello.s-0123456789',
      `${id}.12ab`,
      `${id}.1767225600000.1`,
    ]) {
      expect(tickOfCall(made)).toBeUndefined();
      expect(jobIdOfCall(made)).toBe(made);
    }
  });
});

describe('scheduler sync', () => {
  it('creates the schedulers not there and removes those no longer listed, leaving the rest', () => {
    expect(planSchedulers(['a', 'b'], [])).toEqual({ add: ['a', 'b'], remove: [] });
    expect(planSchedulers(['a', 'b'], ['a', 'b'])).toEqual({ add: [], remove: [] });
    expect(planSchedulers(['a', 'c'], ['a', 'b'])).toEqual({ add: ['c'], remove: ['b'] });
    expect(planSchedulers([], ['a', 'b'])).toEqual({ add: [], remove: ['a', 'b'] });
  });

  it("makes a tick's call from its schedule: method, path and query apart, the schedule's header, the body", () => {
    const data = tickData('hello', every2s, 'hello.s-0123456789');
    expect(data).toEqual({
      fn: 'hello',
      envelope: {
        method: 'POST',
        path: '/tick',
        query: 'full=1',
        headers: { 'x-thaw-schedule': 'hello.s-0123456789' },
        body: Buffer.from('hi').toString('base64'),
      },
    });
    expect(tickData('hello', Schedule.parse({ cron: '* * * * *' }), 'x').envelope).toMatchObject({
      method: 'POST',
      path: '/',
      query: '',
      body: '',
    });
  });
});

describe('a schedule body', () => {
  it('is at most 4 KiB: every tick keeps a copy', () => {
    expect(Schedule.safeParse({ cron: '* * * * *', body: 'x'.repeat(4096) }).success).toBe(true);
    const big = Schedule.safeParse({ cron: '* * * * *', body: 'x'.repeat(4097) });
    expect(big.success).toBe(false);
    expect(big.error?.issues[0]?.path).toEqual(['body']);
  });
});
