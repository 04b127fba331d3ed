export interface ReadyPoolOptions<T> {
  /** How many items it keeps ready. */
  size: number;
  /** Makes one item (off the critical path). */
  make: () => Promise<T>;
  /** Undoes one item that will not be used. */
  drop: (item: T) => Promise<void>;
  /** Told when a background fill failed; the pool tries again on the next fill. */
  onError?: (err: unknown) => void;
}

/**
 * Items made ahead of need, so that taking one costs nothing: `take` hands out a ready item
 * or none, `fill` tops the pool up to its size (one item at a time, so a fill never competes
 * with a start for more than one helper), `close` drops what is left and stops filling.
 */
export class ReadyPool<T> {
  private readonly ready: T[] = [];
  private filling: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly opts: ReadyPoolOptions<T>) {}

  get size(): number {
    return this.ready.length;
  }

  take(): T | undefined {
    return this.ready.shift();
  }

  /** Tops the pool up in the background; resolves when it is full (or failed, or closed). */
  fill(): Promise<void> {
    this.filling ??= this.topUp().finally(() => {
      this.filling = undefined;
    });
    return this.filling;
  }

  private async topUp(): Promise<void> {
    while (!this.closed && this.ready.length < this.opts.size) {
      let item: T;
      try {
        item = await this.opts.make();
      } catch (err) {
        this.opts.onError?.(err);
        return;
      }
      if (this.closed) {
        await this.opts.drop(item).catch((err) => this.opts.onError?.(err));
        return;
      }
      this.ready.push(item);
    }
  }

  /** Stops filling, waits for a fill under way, and drops every ready item. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await this.filling;
    const items = this.ready.splice(0);
    const results = await Promise.allSettled(items.map((i) => this.opts.drop(i)));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length)
      throw new AggregateError(
        failed.map((f) => f.reason),
        'dropping ready items failed',
      );
  }
}
