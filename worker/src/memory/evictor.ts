import type { Logger } from '@thaw/shared';
import type { FunctionHost } from '../pool/function-host.js';
import type { Instance } from '../pool/instance.js';
import { chooseVictims, type GdsfPool } from './gdsf.js';

export interface EvictorOptions {
  /** Every pool on this worker, read at each eviction. */
  pools: () => FunctionHost[];
  log: Logger;
}

interface Victim {
  host: FunctionHost;
  inst: Instance;
}

/**
 * Frees memory by removing idle instances across all functions on the worker, lowest
 * Greedy-Dual-Size-Frequency priority first (gdsf.ts); it holds the policy's clock.
 */
export class Evictor {
  private gdsfClock = 0;

  constructor(private readonly opts: EvictorOptions) {}

  get clock(): number {
    return this.gdsfClock;
  }

  /**
   * Idle instances until `needMiB` is free: never `forFunction`'s own for its own start (it
   * would only trade one of its instances for another), but for a thaw (`ownToo`) its other
   * idle ones may go.
   */
  async evictFor(needMiB: number, forFunction: string, ownToo = false): Promise<void> {
    const pools: GdsfPool<Victim>[] = this.opts.pools().map((host) => ({
      name: host.fn.name,
      minInstances: host.fn.minInstances,
      instances: host.instanceList().map((inst) => ({
        item: { host, inst },
        busy: inst.busy,
        sizeMiB: inst.charge?.chargedMiB ?? host.fn.memoryMiB,
        calls: inst.charge?.calls ?? 0,
        clockAtUse: inst.charge?.clockAtUse ?? 0,
        costMs: inst.charge?.costMs ?? 0,
        lastUsed: inst.lastUsed,
      })),
    }));
    const choice = chooseVictims(pools, needMiB, this.gdsfClock, ownToo ? undefined : forFunction);
    this.gdsfClock = choice.clock;
    await Promise.all(
      choice.victims.map(({ item, priority }) => {
        this.opts.log.info(
          { fn: item.host.fn.name, container: item.inst.id, for: forFunction, priority },
          'evicting an idle instance for memory',
        );
        return item.host.evict(item.inst);
      }),
    );
  }
}
