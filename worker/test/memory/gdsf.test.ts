import { describe, expect, it } from 'vitest';
import { chooseVictims, type GdsfInstance, type GdsfPool, priority } from '../../src/memory/gdsf.js';

function inst(id: string, over: Partial<GdsfInstance<string>> = {}): GdsfInstance<string> {
  return { item: id, busy: 0, sizeMiB: 10, calls: 0, clockAtUse: 0, costMs: 100, lastUsed: 0, ...over };
}

function pool(name: string, instances: GdsfInstance<string>[], minInstances = 0): GdsfPool<string> {
  return { name, minInstances, instances };
}

const ids = (c: { victims: { item: string }[] }) => c.victims.map((v) => v.item);

describe('GDSF victim choice', () => {
  it('priority is clock at use + (calls + 1) × cost / size', () => {
    expect(priority({ clockAtUse: 5, calls: 3, costMs: 100, sizeMiB: 20 })).toBe(5 + (4 * 100) / 20);
  });

  it('keeps the frequently called, the expensive to start and the small', () => {
    const pools = [
      pool('rare', [inst('rare', { calls: 0 })]), // 10
      pool('hot', [inst('hot', { calls: 50 })]), // 510
      pool('costly', [inst('costly', { costMs: 1000 })]), // 100
      pool('big', [inst('big', { sizeMiB: 100 })]), // 1
    ];
    expect(ids(chooseVictims(pools, 105, 0))).toEqual(['big', 'rare']);
    expect(ids(chooseVictims(pools, 115, 0))).toEqual(['big', 'rare', 'costly']);
  });

  it('the clock rises to the highest evicted priority, and instances used since rank above those not', () => {
    const pools = [pool('a', [inst('a1'), inst('a2', { calls: 1 })])]; // 10 and 20
    const first = chooseVictims(pools, 10, 3);
    expect(ids(first)).toEqual(['a1']);
    expect(first.clock).toBe(10);
    // Used after that eviction (clock 10): 10 + 10 = 20 ties with a2's 20; a rare one used
    // recently outranks a once-popular one not used since, once the clock passes.
    const later = chooseVictims(
      [pool('a', [inst('a2', { calls: 1 }), inst('new', { clockAtUse: 15 })])],
      10,
      first.clock,
    );
    expect(ids(later)).toEqual(['a2']);
    // The clock never goes back.
    expect(chooseVictims([pool('x', [inst('x1')])], 10, 99).clock).toBe(99);
  });

  it('breaks ties least recently used first', () => {
    const pools = [pool('a', [inst('late', { lastUsed: 50 }), inst('early', { lastUsed: 10 })])];
    expect(ids(chooseVictims(pools, 10, 0))).toEqual(['early']);
  });

  it('never takes busy instances, nor a pool below its minimum, nor the excluded function', () => {
    const pools = [
      pool('a', [inst('a1', { busy: 1 }), inst('a2')]),
      pool('m', [inst('m1'), inst('m2', { calls: 9 }), inst('m3', { calls: 9 })], 2),
      pool('me', [inst('me1')]),
    ];
    expect(ids(chooseVictims(pools, 20, 0, 'me')).sort()).toEqual(['a2', 'm1']);
    // Not enough could go: nothing does.
    expect(ids(chooseVictims(pools, 21, 0, 'me'))).toEqual([]);
    expect(chooseVictims(pools, 21, 4, 'me').clock).toBe(4);
  });
});
