import { ThawError } from '@thaw/shared';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Admission, type AdmittedFunction } from '../../src/pool/admission.js';
import { InstancePool } from '../../src/pool/pool.js';
import { ConcurrencySampler } from '../../src/pool/sampler.js';
import { FakeFactory, type FakeInstance, fakeMemory, settle, silentLog } from './fakes.js';

const fn: AdmittedFunction & { memoryMiB: number; minInstances: number } = {
  name: 'f',
  concurrency: 2,
  maxInstances: 2,
  timeoutMs: 1000,
  memoryMiB: 64,
  minInstances: 0,
};

/** Admission over a pool of fake instances, wired as FunctionHost wires the real ones. */
function setup(
  opts: { queuePerInstance?: number; budgetMiB?: number; capMemory?: boolean; now?: () => number } = {},
) {
  const factory = new FakeFactory();
  const sampler = new ConcurrencySampler();
  const holder: { admission?: Admission<FakeInstance> } = {};
  const pool = new InstancePool<FakeInstance>({
    fn,
    factory,
    memory: fakeMemory(opts.budgetMiB ?? 1024),
    log: silentLog,
    onStartSettled: (ok) => holder.admission?.dispatch(ok),
  });
  const admission = new Admission({
    fn,
    pool,
    sampler,
    queuePerInstance: opts.queuePerInstance,
    ...(opts.capMemory ? { memory: { budgetMiB: opts.budgetMiB ?? 1024 } } : {}),
    ...(opts.now ? { now: opts.now } : {}),
  });
  holder.admission = admission;
  return { factory, sampler, pool, admission };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Admission', () => {
  it('starts an instance for the first request and hands it over when it runs', async () => {
    const { factory, admission, sampler } = setup();
    const taking = admission.take();
    await settle();
    expect(factory.waiting).toBe(1);
    expect(admission.queued).toBe(1);
    const inst = factory.finish();
    expect(await taking).toBe(inst);
    expect(inst.busy).toBe(1);
    expect(admission.queued).toBe(0);
    expect(sampler.inflight).toBe(1);
  });

  it('fails only the request whose thaw cannot be written, and gives its slot and concurrency back', async () => {
    const { factory, admission, sampler } = setup();
    const first = admission.take();
    await settle();
    const inst = factory.finish();
    expect(await first).toBe(inst);
    // The instance is destroyed under the next request: its thaw throws, as a closed fd does.
    inst.acquire = async () => {
      inst.busy++;
      throw new Error('EBADF: bad file descriptor, write');
    };
    const err = (await admission.take().catch((e: unknown) => e)) as ThawError;
    expect(err).toBeInstanceOf(ThawError);
    expect(err.code).toBe('FUNCTION_CRASHED');
    expect(err.message).toContain('EBADF');
    expect(inst.busy).toBe(1);
    expect(sampler.inflight).toBe(1);
  });

  it('packs requests onto the busiest instance with room, so idle ones stay frozen', async () => {
    const factory = new FakeFactory(true);
    const pool = new InstancePool<FakeInstance>({ fn, factory, memory: fakeMemory(1024), log: silentLog });
    const admission = new Admission({ fn, pool, sampler: new ConcurrencySampler() });
    expect(admission.freeSlot()).toBeUndefined();
    const [a, b] = await Promise.all([pool.start('minimum'), pool.start('minimum')]);
    if (!a || !b) throw new Error('no instance');
    await a.acquire();
    expect(admission.freeSlot()).toBe(a);
    await a.acquire(); // a is full (concurrency 2)
    expect(admission.freeSlot()).toBe(b);
  });

  it('serves a queue up to its bound and refuses one past it, saying which bound (OVERLOADED)', async () => {
    // One waiting request per slot: 1 × maxInstances 2 × concurrency 2 = 4.
    const { admission, factory } = setup({ queuePerInstance: 1 });
    const waiting = Array.from({ length: 4 }, () => admission.take());
    await expect(admission.take()).rejects.toMatchObject({
      code: 'OVERLOADED',
      message: expect.stringContaining("4 requests waiting, its queue's bound (1 per slot × 2 instances"),
    });
    await settle();
    factory.finish();
    factory.finish();
    expect(new Set(await Promise.all(waiting)).size).toBe(2);
  });

  it('refuses when every instance is busy and the queue has not drained within half the timeout', async () => {
    let clock = 0;
    const { admission, factory } = setup({ now: () => clock });
    const held = Array.from({ length: 4 }, () => admission.take());
    await settle();
    factory.finish();
    factory.finish();
    await Promise.all(held); // both instances full: what comes now waits
    const queued = [admission.take()];
    clock = fn.timeoutMs / 2 - 1;
    queued.push(admission.take());
    clock = fn.timeoutMs / 2;
    await expect(admission.take()).rejects.toMatchObject({
      code: 'OVERLOADED',
      message: expect.stringContaining('cannot drain its queue in time: the oldest of 2 waiting requests'),
    });
    admission.rejectAll(new ThawError('FUNCTION_NOT_FOUND'));
    for (const q of queued) await expect(q).rejects.toMatchObject({ code: 'FUNCTION_NOT_FOUND' });
  });

  it('starts no more instances than the memory budget holds', async () => {
    // 100 MiB holds one instance of 64 MiB: maxInstances 2 is cut to 1.
    const { admission, factory, pool } = setup({ budgetMiB: 100, capMemory: true });
    expect(admission.maxInstances).toBe(1);
    const waiting = Array.from({ length: 4 }, () => admission.take());
    await settle();
    expect(factory.waiting).toBe(1);
    // No second start was tried (and refused by the budget, evicting other functions' instances).
    expect(pool.lastStartError).toBeUndefined();
    const inst = factory.finish();
    expect(await Promise.all(waiting.slice(0, 2))).toEqual([inst, inst]);
    admission.rejectAll(new ThawError('FUNCTION_NOT_FOUND'));
    for (const w of waiting.slice(2)) await expect(w).rejects.toMatchObject({ code: 'FUNCTION_NOT_FOUND' });
  });

  it('gives up on a request that found no free instance within the timeout (FUNCTION_TIMEOUT)', async () => {
    vi.useFakeTimers();
    const { admission } = setup();
    const taking = admission.take();
    const failed = expect(taking).rejects.toMatchObject({ code: 'FUNCTION_TIMEOUT' });
    await vi.advanceTimersByTimeAsync(fn.timeoutMs);
    await failed;
    expect(admission.queued).toBe(0);
  });

  it('fails the waiting requests with why the start failed when nothing else runs or starts', async () => {
    const { factory, admission } = setup();
    const taking = admission.take();
    await settle();
    factory.fail('exec format error');
    await expect(taking).rejects.toMatchObject({
      code: 'FUNCTION_START_FAILED',
      message: 'exec format error',
    });
  });

  it('fails them OVERLOADED when the memory budget refuses the start', async () => {
    const { admission } = setup({ budgetMiB: 16 });
    await expect(admission.take()).rejects.toMatchObject({ code: 'OVERLOADED' });
  });

  it('says saturated while requests wait with the pool at its maximum', async () => {
    const { factory, admission } = setup();
    const first = Array.from({ length: 4 }, () => admission.take());
    await settle();
    expect(factory.waiting).toBe(2); // two instances of concurrency 2 for four requests
    expect(admission.saturated).toBe(true);
    factory.finish();
    factory.finish();
    const insts = await Promise.all(first);
    expect(new Set(insts).size).toBe(2);
  });
});
