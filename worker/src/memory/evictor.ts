import type { Logger } from '@thaw/shared';
import type { FunctionHost } from '../pool/function-host.js';

export interface EvictorOptions {
  /** Every pool on this worker, read at each eviction. */
  pools: () => FunctionHost[];
  log: Logger;
}

/** Frees memory for a start by removing other functions' idle instances. */
export class Evictor {
  constructor(private readonly opts: EvictorOptions) {}

  /** Idle instances of functions other than `forFunction`, least recently used first, until `needMiB` is free. */
  async evictFor(needMiB: number, forFunction: string): Promise<void> {
    const candidates = this.opts
      .pools()
      .filter((host) => host.fn.name !== forFunction)
      .flatMap((host) => host.evictable().map((inst) => ({ host, inst })))
      .sort((a, b) => a.inst.lastUsed - b.inst.lastUsed);
    // Evicting what cannot make enough room would only cost other functions their warm instances.
    if (candidates.reduce((sum, c) => sum + c.host.fn.memoryMiB, 0) < needMiB) return;
    let freed = 0;
    const evictions: Promise<void>[] = [];
    for (const c of candidates) {
      if (freed >= needMiB) break;
      freed += c.host.fn.memoryMiB;
      this.opts.log.info(
        { fn: c.host.fn.name, container: c.inst.id, for: forFunction },
        'evicting an idle instance for memory',
      );
      evictions.push(c.host.evict(c.inst));
    }
    await Promise.all(evictions);
  }
}
