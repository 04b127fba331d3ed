import type { FunctionRecord } from '@thaw/shared';

/**
 * Requests that may wait for an instance, per instance slot (instance × concurrency) the
 * function may have on this worker. A backstop for the memory waiting requests hold (each its
 * body, up to the gateway's MAX_BODY_BYTES), not the usual limit: a function whose queue keeps
 * pace is refused by the drain rule below long before, or never.
 */
export const WAITING_PER_SLOT = 50;

/**
 * With every instance the function may have running or starting, new requests are refused once
 * the oldest waiting one has waited this share of the function's timeout: the queue is not
 * draining in time, and a request behind it would most likely time out after holding its body
 * and its caller. Refused at once, the gateway can place the function on another worker.
 */
export const DRAIN_SHARE_OF_TIMEOUT = 0.5;

export type CapacityFunction = Pick<
  FunctionRecord,
  'maxInstances' | 'memoryMiB' | 'concurrency' | 'timeoutMs'
>;

/** The most instances of a function this worker can hold, and which bound set it. */
export interface InstanceCap {
  instances: number;
  bound: 'maxInstances' | 'memory';
}

/**
 * min(maxInstances, what the worker's whole memory budget holds of this function), at least 1.
 * Other functions share the budget: their idle instances are evicted for this one's, and a start
 * the budget still refuses fails alone (the pool's OVERLOADED), so the whole budget is the cap.
 */
export function instanceCap(fn: CapacityFunction, budgetMiB?: number): InstanceCap {
  const fits = budgetMiB === undefined ? Number.POSITIVE_INFINITY : Math.floor(budgetMiB / fn.memoryMiB);
  if (fits < fn.maxInstances) return { instances: Math.max(1, fits), bound: 'memory' };
  return { instances: fn.maxInstances, bound: 'maxInstances' };
}

/** Requests that may wait: WAITING_PER_SLOT (or `perSlot`) for each slot the cap allows. */
export function queueCap(fn: CapacityFunction, cap: InstanceCap, perSlot = WAITING_PER_SLOT): number {
  return perSlot * cap.instances * fn.concurrency;
}

/** The slots the cap allows and the bound that set it, for the OVERLOADED messages. */
export function describeCap(fn: CapacityFunction, cap: InstanceCap, budgetMiB?: number): string {
  const slots = `${cap.instances} instances × concurrency ${fn.concurrency}`;
  if (cap.bound === 'maxInstances') return `${slots}, maxInstances`;
  return (
    `${slots}, maxInstances ${fn.maxInstances} cut by this worker's memory budget: ` +
    `${budgetMiB} MiB / ${fn.memoryMiB} MiB each`
  );
}

/** What a user can change to get more room. */
export function howToRaise(cap: InstanceCap): string {
  return cap.bound === 'maxInstances'
    ? 'raise maxInstances or concurrency, or add workers'
    : "lower memoryMiB, raise concurrency or the worker's THAW_MEMORY_MIB, or add workers";
}

/** What admission knows when a request finds no free slot. */
export interface QueueState {
  waiting: number;
  /** How long the oldest waiting request has waited. */
  oldestWaitMs: number;
  /** Whether every instance the cap allows is running or starting: no start can help. */
  atCap: boolean;
  cap: InstanceCap;
  perSlot: number;
}

/** Why a request is refused (the OVERLOADED message), or undefined when it may wait. */
export function refusal(
  fn: CapacityFunction & { name: string },
  q: QueueState,
  budgetMiB?: number,
): string | undefined {
  const bound = queueCap(fn, q.cap, q.perSlot);
  if (q.waiting >= bound) {
    return (
      `function "${fn.name}" has ${q.waiting} requests waiting, its queue's bound ` +
      `(${q.perSlot} per slot × ${describeCap(fn, q.cap, budgetMiB)}): ${howToRaise(q.cap)}`
    );
  }
  if (q.atCap && q.waiting > 0 && q.oldestWaitMs >= fn.timeoutMs * DRAIN_SHARE_OF_TIMEOUT) {
    return (
      `function "${fn.name}" cannot drain its queue in time: the oldest of ${q.waiting} waiting requests ` +
      `has waited ${Math.round(q.oldestWaitMs)} ms of its ${fn.timeoutMs} ms timeout with all (` +
      `${describeCap(fn, q.cap, budgetMiB)}) busy: ${howToRaise(q.cap)}`
    );
  }
  return undefined;
}
