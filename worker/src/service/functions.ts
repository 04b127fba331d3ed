import type { FunctionRecord, RemovalReason } from '@thaw/shared';
import type { Subscription } from 'nats';
import type { FunctionGauges } from '../metrics/metrics.js';
import type { FunctionHost, HostSnapshot } from '../pool/function-host.js';

/**
 * A function on this worker: the pool serving its current revision (`host`, set once its first
 * instances run), the invocation subscription, and pools of older revisions still draining.
 */
export interface Entry {
  fn: FunctionRecord;
  host?: FunctionHost;
  sub?: Subscription;
  /** Resolves to the image digest once the current revision serves. */
  placing: Promise<string>;
  retiring: Set<FunctionHost>;
}

/** The entry's pools: the current revision's (once it runs) and the draining older ones. */
export function poolsOf(e: Entry): FunctionHost[] {
  return e.host ? [e.host, ...e.retiring] : [...e.retiring];
}

/**
 * The functions this worker holds, by name. Made before anything that reads it (the evictor,
 * the metrics, the log collector), and filled by placements.
 */
export class FunctionTable {
  private readonly entries = new Map<string, Entry>();
  /** Instances removed per function since the worker started, every revision's pool counted. */
  private readonly removals = new Map<string, Partial<Record<RemovalReason, number>>>();

  countRemoval(name: string, reason: RemovalReason): void {
    const counts = this.removals.get(name) ?? {};
    counts[reason] = (counts[reason] ?? 0) + 1;
    this.removals.set(name, counts);
  }

  get(name: string): Entry | undefined {
    return this.entries.get(name);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  set(name: string, entry: Entry): void {
    this.entries.set(name, entry);
  }

  delete(name: string): void {
    this.entries.delete(name);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  functions(): FunctionRecord[] {
    return [...this.entries.values()].map((e) => e.fn);
  }

  /** Every pool on this worker: current revisions and draining old ones. */
  pools(): FunctionHost[] {
    return [...this.entries.values()].flatMap(poolsOf);
  }

  /** Every function's gauges, for the metrics. */
  gauges(): FunctionGauges[] {
    return this.pools().map((h) => h.gauges());
  }

  /**
   * One snapshot per function; draining old revisions count too: their instances still hold
   * memory. Removals are counted since the worker started, across revisions.
   */
  snapshots(): HostSnapshot[] {
    return [...this.entries.values()].flatMap((e) => {
      const snaps = poolsOf(e).map((h) => h.snapshot());
      const [first, ...rest] = snaps;
      if (!first) return [];
      return [
        {
          ...first,
          starting: snaps.reduce((n, x) => n + x.starting, 0),
          removed: { ...(this.removals.get(first.name) ?? {}) },
          instances: [...first.instances, ...rest.flatMap((x) => x.instances)],
        },
      ];
    });
  }
}
