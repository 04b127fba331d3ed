/**
 * Requests in flight in one pool, time-weighted: `sample()` answers the average number in
 * flight since the previous sample, the autoscaler's input.
 */
export class ConcurrencySampler {
  private count = 0;
  private area = 0;
  private lastChange: number;
  private lastSample: number;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.lastChange = this.now();
    this.lastSample = this.lastChange;
  }

  get inflight(): number {
    return this.count;
  }

  enter(): void {
    this.change(1);
  }

  leave(): void {
    this.change(-1);
  }

  /** The average in flight since the last sample; starts the next period. */
  sample(): number {
    const now = this.now();
    this.change(0);
    const average = this.area / Math.max(1, now - this.lastSample);
    this.area = 0;
    this.lastSample = now;
    return average;
  }

  private change(delta: number): void {
    const now = this.now();
    this.area += this.count * (now - this.lastChange);
    this.lastChange = now;
    this.count += delta;
  }
}
