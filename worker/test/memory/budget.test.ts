import { describe, expect, it } from 'vitest';
import { MemoryBudget } from '../../src/memory/budget.js';
import { Evictor } from '../../src/memory/evictor.js';
import type { FunctionHost } from '../../src/pool/function-host.js';
import { silentLog } from '../pool/fakes.js';

describe('MemoryBudget', () => {
  it('reserves within the budget, asks for eviction beyond it, and refuses what eviction cannot free', async () => {
    const asked: number[] = [];
    const budget: MemoryBudget = new MemoryBudget({
      budgetMiB: 256,
      evictor: {
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

  it('refuses at once without an evictor', async () => {
    const budget = new MemoryBudget({ budgetMiB: 100 });
    expect(await budget.reserve(64, 'a')).toBe(true);
    expect(await budget.reserve(64, 'b')).toBe(false);
    budget.release(64);
    expect(budget.committedMiB).toBe(0);
  });
});

/** A pool the evictor looks at: its function, its evictable instances, and what it evicted. */
function fakeHost(name: string, memoryMiB: number, idle: { id: string; lastUsed: number }[]) {
  const evicted: string[] = [];
  const host = {
    fn: { name, memoryMiB },
    evictable: () => idle,
    evict: async (inst: { id: string }) => {
      evicted.push(inst.id);
    },
  };
  return { host: host as unknown as FunctionHost, evicted };
}

describe('Evictor', () => {
  it('evicts other functions’ idle instances, least recently used first, until enough is free', async () => {
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
  });

  it('evicts nothing when all it could take would not be enough', async () => {
    const a = fakeHost('a', 128, [{ id: 'a1', lastUsed: 1 }]);
    const evictor = new Evictor({ pools: () => [a.host], log: silentLog });
    await evictor.evictFor(256, 'me');
    expect(a.evicted).toEqual([]);
  });
});
