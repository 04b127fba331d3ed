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
function setup(opts: { queuePerInstance?: number; budgetMiB?: number } = {}) {
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
  const admission = new Admission({ fn, pool, sampler, queuePerInstance: opts.queuePerInstance });
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

  it('refuses beyond the bounded queue (OVERLOADED)', async () => {
    // One waiting request per slot: 1 × maxInstances 2 × concurrency 2 = 4.
    const { admission } = setup({ queuePerInstance: 1 });
    const waiting = Array.from({ length: 4 }, () => admission.take());
    await expect(admission.take()).rejects.toMatchObject({ code: 'OVERLOADED' });
    admission.rejectAll(new ThawError('FUNCTION_NOT_FOUND'));
    for (const w of waiting) await expect(w).rejects.toMatchObject({ code: 'FUNCTION_NOT_FOUND' });
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
