import { describe, expect, it } from 'vitest';
import { MemoryBudget } from '../../src/memory/budget.js';
import { MemoryCharge } from '../../src/memory/charge.js';
import { Evictor } from '../../src/memory/evictor.js';
import type { FunctionHost } from '../../src/pool/function-host.js';
import { silentLog } from '../pool/fakes.js';

const MiB = 2 ** 20;

describe('MemoryBudget', () => {
  it('reserves within the budget, asks for eviction beyond it, and refuses what eviction cannot free', async () => {
    const asked: number[] = [];
    const budget: MemoryBudget = new MemoryBudget({
      budgetMiB: 256,
      evictor: {
        clock: 0,
        evictFor: async (need) => {
          asked.push(need);
          if (need <= 128) budget.release(128); // one 128 MiB instance can go
        },
      },
    });
    expect(await budget.reserve(128, 'a')).toBe(true);
    expect(await budget.reserve(128, 'b')).toBe(true);
    expect(await budget.reserve(128, 'c')).toBe(true); // after evicting one
    expect(budget.committedMiB).toBe(256);
    expect(await budget.reserve(256, 'd')).toBe(false);
    expect(asked).toEqual([128, 256]);
    expect(budget.committedMiB).toBe(256);
  });

  it('refuses at once without an evictor; tryReserve never evicts', async () => {
    const budget = new MemoryBudget({ budgetMiB: 100 });
    expect(await budget.reserve(64, 'a')).toBe(true);
    expect(await budget.reserve(64, 'b')).toBe(false);
    expect(budget.tryReserve(36)).toBe(true);
    expect(budget.tryReserve(1)).toBe(false);
    budget.release(100);
    expect(budget.committedMiB).toBe(0);
  });
});

describe('MemoryCharge', () => {
  it('is charged its usage when frozen and reserves back to its limit before it runs', async () => {
    const budget = new MemoryBudget({ budgetMiB: 100 });
    expect(budget.tryReserve(64)).toBe(true); // the pool's reservation before the start
    const charge = new MemoryCharge({ budget, fn: 'f', limitMiB: 64, costMs: 100 });
    charge.lower(4.2 * MiB);
    expect(charge.chargedMiB).toBe(5); // rounded up
    expect(budget.committedMiB).toBe(5);
    charge.lower(0); // unreadable: unchanged
    expect(charge.chargedMiB).toBe(5);
    expect(budget.tryReserve(90)).toBe(true); // someone else takes the room
    expect(charge.tryRaise()).toBe(false);
    expect(await charge.raise()).toBe(false); // no evictor: nothing can be freed
    expect(budget.committedMiB).toBe(95); // never above the budget
    budget.release(90);
    expect(charge.tryRaise()).toBe(true);
    expect(charge.chargedMiB).toBe(64);
    expect(budget.committedMiB).toBe(64);
    charge.release();
    charge.release(); // once
    expect(budget.committedMiB).toBe(0);
  });

  it('raises by evicting, the function’s own other instances allowed', async () => {
    const asked: { need: number; own: boolean | undefined }[] = [];
    const budget: MemoryBudget = new MemoryBudget({
      budgetMiB: 100,
      evictor: {
        clock: 7,
        evictFor: async (need, _fn, ownToo) => {
          asked.push({ need, own: ownToo });
          budget.release(50);
        },
      },
    });
    budget.tryReserve(64);
    const charge = new MemoryCharge({ budget, fn: 'f', limitMiB: 64, costMs: 100 });
    expect(charge.clockAtUse).toBe(7);
    charge.lower(10 * MiB);
    budget.tryReserve(80); // 90 committed
    const [a, b] = await Promise.all([charge.raise(), charge.raise()]); // one reservation for both
    expect([a, b]).toEqual([true, true]);
    expect(asked).toEqual([{ need: 44, own: true }]);
    expect(budget.committedMiB).toBe(94);
  });
});

/** A pool the evictor looks at: its function and instances, and what it evicted. */
function fakeHost(
  name: string,
  memoryMiB: number,
  idle: { id: string; lastUsed: number }[],
  minInstances = 0,
) {
  const evicted: string[] = [];
  const host = {
    fn: { name, memoryMiB, minInstances },
    instanceList: () => idle.map((i) => ({ ...i, busy: 0 })),
    evict: async (inst: { id: string }) => {
      evicted.push(inst.id);
    },
  };
  return { host: host as unknown as FunctionHost, evicted };
}

describe('Evictor', () => {
  it('evicts other functions’ idle instances, lowest priority first, until enough is free', async () => {
    const a = fakeHost('a', 128, [
      { id: 'a1', lastUsed: 30 },
      { id: 'a2', lastUsed: 10 },
    ]);
    const b = fakeHost('b', 128, [{ id: 'b1', lastUsed: 20 }]);
    const me = fakeHost('me', 128, [{ id: 'm1', lastUsed: 0 }]);
    const evictor = new Evictor({ pools: () => [a.host, b.host, me.host], log: silentLog });
    await evictor.evictFor(200, 'me');
    expect([...a.evicted, ...b.evicted].sort()).toEqual(['a2', 'b1']);
    expect(me.evicted).toEqual([]);
    expect(evictor.clock).toBeGreaterThan(0);
  });

  it('evicts nothing when all it could take would not be enough', async () => {
    const a = fakeHost('a', 128, [{ id: 'a1', lastUsed: 1 }]);
    const evictor = new Evictor({ pools: () => [a.host], log: silentLog });
    await evictor.evictFor(256, 'me');
    expect(a.evicted).toEqual([]);
  });

  it('for a thaw, the function’s own idle instances may go', async () => {
    const me = fakeHost('me', 128, [{ id: 'm1', lastUsed: 0 }]);
    const evictor = new Evictor({ pools: () => [me.host], log: silentLog });
    await evictor.evictFor(100, 'me', true);
    expect(me.evicted).toEqual(['m1']);
  });
});
