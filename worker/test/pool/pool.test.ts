import { describe, expect, it } from 'vitest';
import { InstancePool, type PoolFunction } from '../../src/pool/pool.js';
import { FakeFactory, type FakeInstance, fakeMemory, settle, silentLog } from './fakes.js';

const fn: PoolFunction = { name: 'f', memoryMiB: 64, concurrency: 1, minInstances: 0, maxInstances: 4 };

function pool(opts: { factory?: FakeFactory; budgetMiB?: number; f?: Partial<PoolFunction> } = {}) {
  const factory = opts.factory ?? new FakeFactory(true);
  const memory = fakeMemory(opts.budgetMiB ?? 1024);
  const settled: boolean[] = [];
  let added = 0;
  const p = new InstancePool<FakeInstance>({
    fn: { ...fn, ...opts.f },
    factory,
    memory,
    log: silentLog,
    onAdded: () => added++,
    onStartSettled: (ok) => settled.push(ok),
  });
  return { p, factory, memory, settled, added: () => added };
}

describe('InstancePool', () => {
  it('reserves memory for each start and returns it when the instance is removed', async () => {
    const { p, memory, settled, added } = pool();
    const inst = await p.start('request');
    expect(inst).toBeDefined();
    expect(p.size).toBe(1);
    expect(p.starting).toBe(0);
    expect(memory.committed).toBe(64);
    expect(added()).toBe(1);
    expect(settled).toEqual([true]);
    if (!inst) return;
    await p.remove(inst, 'requested');
    expect(inst.destroyed).toBe(true);
    expect(memory.committed).toBe(0);
    await p.remove(inst, 'requested'); // a second removal does nothing
    expect(memory.committed).toBe(0);
    expect(p.removed).toEqual({ requested: 1 });
  });

  it('refuses a start the memory budget cannot hold (OVERLOADED) and builds nothing', async () => {
    const { p, factory, settled } = pool({ budgetMiB: 32 });
    expect(await p.start('request')).toBeUndefined();
    expect(p.lastStartError?.code).toBe('OVERLOADED');
    expect(factory.built).toHaveLength(0);
    expect(settled).toEqual([false]);
  });

  it('counts a start as starting until it ends, and a failed one returns its memory', async () => {
    const factory = new FakeFactory();
    const { p, memory } = pool({ factory });
    const started = p.start('request');
    await settle();
    expect(p.starting).toBe(1);
    factory.fail('no such binary');
    expect(await started).toBeUndefined();
    expect(p.starting).toBe(0);
    expect(p.lastStartError?.code).toBe('FUNCTION_START_FAILED');
    expect(p.lastStartError?.message).toBe('no such binary');
    expect(memory.committed).toBe(0);
  });

  it('scales for waiting requests within maxInstances, counting starts under way', async () => {
    const factory = new FakeFactory();
    const { p } = pool({ factory, f: { concurrency: 2 } });
    p.scaleFor(3); // two instances for three requests
    await settle();
    expect(p.starting).toBe(2);
    p.scaleFor(3); // already starting
    p.scaleFor(20); // at most four in all
    await settle();
    expect(p.starting).toBe(4);
  });

  it('freezes an instance started for requests that no longer wait for it', async () => {
    const { p } = pool();
    p.scaleFor(1);
    await settle();
    const [inst] = p.live;
    expect(inst?.frozen).toBe(true);
  });

  it('retires an instance after failures in a row, replaces it, and destroys it after its last call', async () => {
    const { p, factory } = pool();
    const inst = await p.start('request');
    if (!inst) throw new Error('no instance');
    await inst.acquire();
    p.report(inst, { ok: false, code: 'UPSTREAM_ERROR' });
    p.report(inst, { ok: true }); // an answer resets the count
    p.report(inst, { ok: false, code: 'UPSTREAM_ERROR' });
    p.report(inst, { ok: false, code: 'FUNCTION_TIMEOUT' });
    p.report(inst, { ok: false, code: 'VALIDATION_FAILED' }); // the function's answer, not the instance's failure
    expect(p.live.has(inst)).toBe(true);
    p.report(inst, { ok: false, code: 'UPSTREAM_ERROR' });
    expect(p.live.has(inst)).toBe(false);
    await settle();
    expect(factory.built).toHaveLength(2); // the replacement
    expect(inst.destroyed).toBe(false); // still holds a call
    inst.release();
    p.released(inst);
    await settle();
    expect(inst.destroyed).toBe(true);
  });

  it('removes a crashed instance at once and starts a replacement', async () => {
    const { p, factory } = pool();
    const inst = await p.start('request');
    if (!inst) throw new Error('no instance');
    p.report(inst, { ok: false, code: 'FUNCTION_CRASHED', crashed: true });
    await settle();
    expect(inst.destroyed).toBe(true);
    expect(factory.built).toHaveLength(2);
    expect(p.size).toBe(1);
  });

  it('evicts an idle instance for memory, returning what it is charged, but keeps a busy one', async () => {
    const { p, memory } = pool();
    const [a, c] = await Promise.all([p.start('minimum'), p.start('minimum')]);
    if (!a || !c) throw new Error('no instance');
    a.charge?.lower(5 * 2 ** 20); // frozen: charged its usage
    expect(memory.committed).toBe(64 + 5);
    await c.acquire();
    await p.evict(c); // busy: kept
    expect(c.destroyed).toBe(false);
    await p.evict(a);
    expect(a.destroyed).toBe(true);
    expect(memory.committed).toBe(64);
    expect(p.removed).toEqual({ memory: 1 });
  });

  it('scales to zero on request: idle instances above the minimum go, busy ones stay', async () => {
    const { p } = pool({ f: { minInstances: 2 } });
    const [a, b, c, d] = await Promise.all([1, 2, 3, 4].map(() => p.start('minimum')));
    if (!a || !b || !c || !d) throw new Error('no instance');
    [a.lastUsed, b.lastUsed, c.lastUsed, d.lastUsed] = [40, 10, 0, 20];
    await c.acquire();
    await p.scaleToZero();
    expect(p.size).toBe(2); // the minimum: the busy one and the most recently used
    expect([a.destroyed, b.destroyed, c.destroyed, d.destroyed]).toEqual([false, true, false, true]);
    expect(p.removed).toEqual({ requested: 2 });
  });

  it('ages out idle instances past their time-to-live, down to `keep`', async () => {
    const { p } = pool();
    const [a, b, c] = await Promise.all([p.start('request'), p.start('request'), p.start('request')]);
    if (!a || !b || !c) throw new Error('no instance');
    a.lastUsed = 0;
    b.lastUsed = 100;
    c.lastUsed = 950;
    p.ageOut(1, 500, 1000);
    await settle();
    expect([a.destroyed, b.destroyed, c.destroyed]).toEqual([true, true, false]);
    expect(p.removed).toEqual({ 'idle-age': 2 });
  });

  it('closes once: waits for starts under way and removes every instance', async () => {
    const factory = new FakeFactory();
    const { p, memory } = pool({ factory });
    const first = p.start('request');
    await settle();
    factory.finish();
    await first;
    const second = p.start('request');
    await settle();
    const closing = p.close();
    expect(p.close()).toBe(closing);
    const late = factory.finish();
    await closing;
    expect(await second).toBeUndefined();
    expect(late.destroyed).toBe(true);
    expect(factory.built.every((i) => i.destroyed)).toBe(true);
    expect(p.size).toBe(0);
    expect(memory.committed).toBe(0);
  });
});
