import { randomUUID } from 'node:crypto';
import { CALLS } from './histogram.js';
import type { Pending } from './recorder.js';
import type { Batch } from './store.js';

export interface UnflushedOptions {
  /** Epoch ms (the buckets' clock). */
  wall(): number;
  /** A bucket not written this long after its start is dropped. */
  keepMs: number;
}

/**
 * The flush batches not yet known to be in Redis, oldest first. Each keeps its id and its
 * counters as they were first sent: if an earlier try did land (a reply lost with the
 * connection), the retry finds the id's mark and adds nothing, so a batch is never merged
 * with newer counts. Buckets older than keepMs are dropped (Redis lost that long).
 */
export class Unflushed {
  private readonly batches: Batch[] = [];
  /** Calls whose counters were dropped. */
  dropped = 0;

  constructor(private readonly o: UnflushedOptions) {}

  /** Queues a new batch of counters, behind those still unwritten. */
  add(pending: Pending): void {
    if (pending.size > 0) this.batches.push({ id: randomUUID(), pending });
  }

  /** The oldest batch, to write next. */
  first(): Batch | undefined {
    return this.batches[0];
  }

  /** The oldest batch was written. */
  done(): void {
    this.batches.shift();
  }

  get size(): number {
    return this.batches.length;
  }

  /** Drops the buckets older than keepMs (and batches left empty); returns the calls dropped. */
  trim(): number {
    const oldest = this.o.wall() - this.o.keepMs;
    let dropped = 0;
    for (const b of this.batches) {
      for (const [t, fns] of b.pending) {
        if (t >= oldest) continue;
        for (const c of fns.values()) dropped += c[CALLS] ?? 0;
        b.pending.delete(t);
      }
    }
    for (let i = this.batches.length - 1; i >= 0; i--) {
      if (this.batches[i]?.pending.size === 0) this.batches.splice(i, 1);
    }
    this.dropped += dropped;
    return dropped;
  }
}
