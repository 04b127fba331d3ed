import { describe, expect, it } from 'vitest';
import { instanceCap, queueCap, refusal, WAITING_PER_SLOT } from '../../src/pool/capacity.js';

const fn = { name: 'f', maxInstances: 10, memoryMiB: 128, concurrency: 2, timeoutMs: 1000 };
const queue = (over: Partial<Parameters<typeof refusal>[1]> = {}) => ({
  waiting: 0,
  oldestWaitMs: 0,
  atCap: false,
  cap: instanceCap(fn),
  perSlot: WAITING_PER_SLOT,
  ...over,
});

describe('instanceCap', () => {
  it('is maxInstances when the memory budget holds that many', () => {
    expect(instanceCap(fn, 1280)).toEqual({ instances: 10, bound: 'maxInstances' });
    expect(instanceCap(fn)).toEqual({ instances: 10, bound: 'maxInstances' });
  });

  it('is what the memory budget holds when that is fewer, and never below one', () => {
    expect(instanceCap(fn, 1279)).toEqual({ instances: 9, bound: 'memory' });
    expect(instanceCap(fn, 100)).toEqual({ instances: 1, bound: 'memory' });
  });
});

describe('queueCap', () => {
  it('allows the per-slot number for every slot the cap allows', () => {
    expect(queueCap(fn, instanceCap(fn, 1280))).toBe(WAITING_PER_SLOT * 10 * 2);
    expect(queueCap(fn, instanceCap(fn, 512), 3)).toBe(3 * 4 * 2);
  });
});

describe('refusal', () => {
  it('lets a request wait under the bound', () => {
    expect(refusal(fn, queue({ waiting: 3, perSlot: 1, cap: instanceCap(fn, 256) }))).toBeUndefined();
  });

  it('refuses at the bound, naming it and how to raise it', () => {
    const cap = instanceCap(fn, 256);
    expect(refusal(fn, queue({ waiting: 4, perSlot: 1, cap }), 256)).toBe(
      'function "f" has 4 requests waiting, its queue\'s bound (1 per slot × 2 instances × concurrency 2, ' +
        "maxInstances 10 cut by this worker's memory budget: 256 MiB / 128 MiB each): lower memoryMiB, " +
        "raise concurrency or the worker's THAW_MEMORY_MIB, or add workers",
    );
    expect(refusal(fn, queue({ waiting: 20, perSlot: 1 }))).toContain(
      '(1 per slot × 10 instances × concurrency 2, maxInstances): raise maxInstances or concurrency',
    );
  });

  it('refuses when every allowed instance is busy and the oldest waited half the timeout', () => {
    const stuck = queue({ waiting: 5, atCap: true, oldestWaitMs: 500 });
    expect(refusal(fn, stuck)).toBe(
      'function "f" cannot drain its queue in time: the oldest of 5 waiting requests has waited 500 ms ' +
        'of its 1000 ms timeout with all (10 instances × concurrency 2, maxInstances) busy: ' +
        'raise maxInstances or concurrency, or add workers',
    );
    // Draining in time, or instances can still start: the request waits.
    expect(refusal(fn, { ...stuck, oldestWaitMs: 499 })).toBeUndefined();
    expect(refusal(fn, { ...stuck, atCap: false })).toBeUndefined();
  });
});
