/**
 * A bound on the calls one trigger runs at once on this gateway: `acquire` waits while all
 * `size` are taken; `idle` resolves once none is.
 */
export class Slots {
  #taken = 0;
  readonly #waiting: (() => void)[] = [];
  #idle: (() => void)[] = [];

  constructor(readonly size: number) {}

  get taken(): number {
    return this.#taken;
  }

  /** Takes a slot now when one is free. */
  tryAcquire(): boolean {
    if (this.#taken >= this.size) return false;
    this.#taken++;
    return true;
  }

  async acquire(): Promise<void> {
    if (this.tryAcquire()) return;
    // The slot is handed over by release(), so #taken does not change here.
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next) {
      next();
      return;
    }
    this.#taken--;
    if (this.#taken === 0) {
      for (const done of this.#idle) done();
      this.#idle = [];
    }
  }

  /** Resolves when no slot is taken. */
  idle(): Promise<void> {
    if (this.#taken === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }
}
