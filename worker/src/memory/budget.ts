/**
 * The worker's memory commitments: every instance reserves its memory limit before it is
 * created and returns it when destroyed, so the worker never commits more than its budget.
 * When a reservation does not fit, `evict` is asked to free room (idle instances of other
 * functions, least recently used first) before the reservation is refused.
 */
export class MemoryBudget {
  private committed = 0;

  constructor(
    readonly budgetMiB: number,
    private readonly evict: (needMiB: number, forFunction: string) => Promise<void> = async () => {},
  ) {}

  get committedMiB(): number {
    return this.committed;
  }

  /** True when `mib` is now reserved for an instance of `fn`. */
  async reserve(mib: number, fn: string): Promise<boolean> {
    if (this.committed + mib <= this.budgetMiB) {
      this.committed += mib;
      return true;
    }
    await this.evict(this.committed + mib - this.budgetMiB, fn);
    // Checked again: other reservations may have run while evicted instances were destroyed.
    if (this.committed + mib > this.budgetMiB) return false;
    this.committed += mib;
    return true;
  }

  release(mib: number): void {
    this.committed = Math.max(0, this.committed - mib);
  }
}
