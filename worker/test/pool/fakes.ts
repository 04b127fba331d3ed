import { createLogger } from '@thaw/shared';
import type { MemoryCharge } from '../../src/memory/charge.js';
import type { InstanceFactory, MemoryReservations, PooledInstance } from '../../src/pool/pool.js';

export const silentLog = createLogger('worker-test', 'silent');

let nextId = 0;

/** An instance with no container behind it: it records what the pool and admission did to it. */
export class FakeInstance implements PooledInstance {
  readonly id = `fake-${++nextId}`;
  busy = 0;
  lastUsed = performance.now();
  served = 0;
  failuresInARow = 0;
  charge: MemoryCharge | undefined;
  frozen = false;
  destroyed = false;

  async acquire(): Promise<void> {
    this.busy++;
    this.frozen = false;
  }

  release(): void {
    this.busy--;
    this.served++;
    this.lastUsed = performance.now();
  }

  async freezeIfIdle(): Promise<void> {
    if (this.busy === 0) this.frozen = true;
  }

  async destroy(): Promise<void> {
    this.destroyed = true;
  }
}

/**
 * Builds fake instances. Each start waits until the test lets it finish (`finish`), or fails
 * with `fail`; with `auto` set, starts finish at once.
 */
export class FakeFactory implements InstanceFactory<FakeInstance> {
  readonly built: FakeInstance[] = [];
  private readonly pending: { resolve: (i: FakeInstance) => void; reject: (e: Error) => void }[] = [];

  constructor(private readonly auto = false) {}

  create(): Promise<FakeInstance> {
    if (this.auto) return Promise.resolve(this.make());
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }

  get waiting(): number {
    return this.pending.length;
  }

  /** Lets the oldest pending start finish with a new instance. */
  finish(): FakeInstance {
    const p = this.pending.shift();
    if (!p) throw new Error('no start is pending');
    const inst = this.make();
    p.resolve(inst);
    return inst;
  }

  fail(message: string): void {
    const p = this.pending.shift();
    if (!p) throw new Error('no start is pending');
    p.reject(new Error(message));
  }

  private make(): FakeInstance {
    const inst = new FakeInstance();
    this.built.push(inst);
    return inst;
  }
}

/** A memory budget that counts, with no evictor. */
export function fakeMemory(budgetMiB: number): MemoryReservations & { committed: number } {
  return {
    budgetMiB,
    committed: 0,
    clock: 0,
    get committedMiB() {
      return this.committed;
    },
    tryReserve(mib: number) {
      if (this.committed + mib > budgetMiB) return false;
      this.committed += mib;
      return true;
    },
    async reserve(mib: number) {
      return this.tryReserve(mib);
    },
    release(mib: number) {
      this.committed -= mib;
    },
  };
}

/** Lets pending promise callbacks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}
