/** Frees memory for a reservation that does not fit (`Evictor`). */
export interface Evict {
  /** Frees `needMiB` from idle instances; `forFunction`'s own only with `ownToo` (a thaw). */
  evictFor(needMiB: number, forFunction: string, ownToo?: boolean): Promise<void>;
  /** The eviction policy's clock (GDSF). */
  readonly clock: number;
}

export interface MemoryBudgetOptions {
  budgetMiB: number;
  /** Asked to free room before a reservation is refused; none: refused at once. */
  evictor?: Evict;
}

/**
 * The worker's memory commitments (see docs/keep-frozen.md): every instance reserves its memory
 * limit before it is created, is charged its real usage while frozen, reserves back up to its
 * limit before it thaws, and returns its charge when destroyed; the worker never commits more
 * than its budget. When a reservation does not fit, the evictor is asked to free room (idle
 * instances, chosen by GDSF) before the reservation is refused.
 */
export class MemoryBudget {
  readonly budgetMiB: number;
  private committed = 0;
  private readonly evictor: Evict | undefined;

  constructor({ budgetMiB, evictor }: MemoryBudgetOptions) {
    this.budgetMiB = budgetMiB;
    this.evictor = evictor;
  }

  get committedMiB(): number {
    return this.committed;
  }

  get clock(): number {
    return this.evictor?.clock ?? 0;
  }

  /** Reserves `mib` if it fits now; never waits or evicts (the thaw's hot path). */
  tryReserve(mib: number): boolean {
    if (this.committed + mib > this.budgetMiB) return false;
    this.committed += mib;
    return true;
  }

  /**
   * True when `mib` is now reserved for an instance of `fn`. What does not fit is asked of the
   * evictor: other functions' idle instances, and `fn`'s own too with `ownToo` (a thaw).
   */
  async reserve(mib: number, fn: string, opts: { ownToo?: boolean } = {}): Promise<boolean> {
    if (this.tryReserve(mib)) return true;
    await this.evictor?.evictFor(this.committed + mib - this.budgetMiB, fn, opts.ownToo);
    // Checked again: other reservations may have run while evicted instances were destroyed.
    return this.tryReserve(mib);
  }

  release(mib: number): void {
    this.committed = Math.max(0, this.committed - mib);
  }
}
