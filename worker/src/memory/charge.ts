/** What a charge needs of the worker's budget (MemoryBudget). */
export interface ChargeBudget {
  /** Reserves at once if it fits; never evicts. The thaw hot path: a number compare. */
  tryReserve(mib: number): boolean;
  /** Reserves, evicting idle instances (the function's own other ones too) if needed. */
  reserve(mib: number, fn: string, opts?: { ownToo?: boolean }): Promise<boolean>;
  release(mib: number): void;
  /** The eviction policy's clock (GDSF), recorded at each use. */
  readonly clock: number;
}

export interface MemoryChargeOptions {
  budget: ChargeBudget;
  fn: string;
  /** The instance's memory limit: what it is charged while it may run. */
  limitMiB: number;
  /** What starting it cost (ms): the eviction policy's cost. */
  costMs: number;
}

const MiB = 2 ** 20;

/**
 * One instance's account with the worker's memory budget. It holds its limit from before it
 * is created (reserved by the pool) while it may run; frozen, it is charged its cgroup's usage
 * as read when it froze. Before it thaws the charge goes back up to the limit, reserved first:
 * thawing can then never commit more memory than the budget.
 */
export class MemoryCharge {
  readonly limitMiB: number;
  readonly costMs: number;
  private charged: number;
  private raising: Promise<boolean> | undefined;
  private released = false;
  /** Calls served: the eviction policy's frequency. */
  calls = 0;
  clockAtUse: number;

  constructor(private readonly opts: MemoryChargeOptions) {
    this.limitMiB = opts.limitMiB;
    this.charged = opts.limitMiB;
    this.costMs = opts.costMs;
    this.clockAtUse = opts.budget.clock;
  }

  get chargedMiB(): number {
    return this.charged;
  }

  /** A call ended: counted, and the policy's clock noted. */
  used(): void {
    this.calls++;
    this.clockAtUse = this.opts.budget.clock;
  }

  /**
   * Frozen: charged `usageBytes` (rounded up to MiB, at least 1, at most the limit). Zero means
   * the cgroup could not be read: the charge stays.
   */
  lower(usageBytes: number): void {
    if (this.released || this.raising || usageBytes <= 0) return;
    const usage = Math.min(this.limitMiB, Math.max(1, Math.ceil(usageBytes / MiB)));
    if (usage >= this.charged) return;
    this.opts.budget.release(this.charged - usage);
    this.charged = usage;
  }

  /** Back to the limit if the budget has room now, without waiting: true when at the limit. */
  tryRaise(): boolean {
    if (this.charged === this.limitMiB || this.released) return true;
    // One reservation at a time: a raise under way is evicting for this very difference.
    if (this.raising) return false;
    if (!this.opts.budget.tryReserve(this.limitMiB - this.charged)) return false;
    this.charged = this.limitMiB;
    return true;
  }

  /** Back to the limit, evicting for it if needed; false when even that cannot make room. */
  raise(): Promise<boolean> {
    if (!this.raising && this.tryRaise()) return Promise.resolve(true);
    this.raising ??= (async () => {
      const need = this.limitMiB - this.charged;
      const ok = await this.opts.budget.reserve(need, this.opts.fn, { ownToo: true });
      if (ok && this.released) this.opts.budget.release(need);
      else if (ok) this.charged = this.limitMiB;
      return ok;
    })().finally(() => {
      this.raising = undefined;
    });
    return this.raising;
  }

  /** Idempotent: the whole charge goes back to the budget (the instance is gone). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.opts.budget.release(this.charged);
    this.charged = 0;
  }
}
