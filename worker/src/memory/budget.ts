/** Frees memory for a reservation that does not fit (`Evictor`). */
export interface Evict {
  evictFor(needMiB: number, forFunction: string): Promise<void>;
}

export interface MemoryBudgetOptions {
  budgetMiB: number;
  /** Asked to free room before a reservation is refused; none: refused at once. */
  evictor?: Evict;
}

/**
 * The worker's memory commitments: every instance reserves its memory limit before it is
 * created and returns it when destroyed, so the worker never commits more than its budget.
 * When a reservation does not fit, the evictor is asked to free room (idle instances of other
 * functions, least recently used first) before the reservation is refused.
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

  /** True when `mib` is now reserved for an instance of `fn`. */
  async reserve(mib: number, fn: string): Promise<boolean> {
    if (this.committed + mib <= this.budgetMiB) {
      this.committed += mib;
      return true;
    }
    await this.evictor?.evictFor(this.committed + mib - this.budgetMiB, fn);
    // Checked again: other reservations may have run while evicted instances were destroyed.
    if (this.committed + mib > this.budgetMiB) return false;
    this.committed += mib;
    return true;
  }

  release(mib: number): void {
    this.committed = Math.max(0, this.committed - mib);
  }
}
