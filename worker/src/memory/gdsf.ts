/**
 * Greedy-Dual-Size-Frequency (Cherkasova 1998; FaasCache, ASPLOS'21), pure logic: which idle
 * instances to remove to free memory. Each instance's priority is
 *   clock at its last use + frequency × cost / size
 * (frequency: calls it served, plus one for its start; cost: its function's measured start
 * time; size: the MiB it is charged). The lowest priorities go first; the clock then rises to
 * the highest priority evicted, so instances not used since age relative to those used after.
 */

/** One idle-or-busy instance as the policy sees it. */
export interface GdsfInstance<T> {
  item: T;
  busy: number;
  /** Its charge against the budget now (MiB): what removing it frees. */
  sizeMiB: number;
  /** Calls it served. */
  calls: number;
  /** The policy's clock when it was last used (or started). */
  clockAtUse: number;
  /** What starting it again would cost (ms). */
  costMs: number;
  /** performance.now() of its last use: breaks ties, least recently used first. */
  lastUsed: number;
}

/** One pool: a function's instances and the minimum it keeps. */
export interface GdsfPool<T> {
  name: string;
  minInstances: number;
  instances: GdsfInstance<T>[];
}

export interface GdsfChoice<T> {
  victims: { item: T; pool: string; sizeMiB: number; priority: number }[];
  /** The clock after these evictions (never lower than before). */
  clock: number;
}

export function priority(
  i: Pick<GdsfInstance<unknown>, 'clockAtUse' | 'calls' | 'costMs' | 'sizeMiB'>,
): number {
  return i.clockAtUse + ((i.calls + 1) * Math.max(i.costMs, 1)) / Math.max(i.sizeMiB, 1);
}

/**
 * The instances to remove so that `needMiB` is freed, lowest priority first: idle ones only,
 * never more of a pool than leaves `minInstances`, none of `exclude`'s. Empty when all that may
 * go would not free enough: evicting then would only cost others their warm instances.
 */
export function chooseVictims<T>(
  pools: GdsfPool<T>[],
  needMiB: number,
  clock: number,
  exclude?: string,
): GdsfChoice<T> {
  const candidates: (GdsfChoice<T>['victims'][number] & { lastUsed: number })[] = [];
  for (const pool of pools) {
    if (pool.name === exclude) continue;
    const mayGo = Math.max(0, pool.instances.length - pool.minInstances);
    const idle = pool.instances
      .filter((i) => i.busy === 0)
      .map((i) => ({
        item: i.item,
        pool: pool.name,
        sizeMiB: i.sizeMiB,
        priority: priority(i),
        lastUsed: i.lastUsed,
      }))
      .sort(byPriority)
      .slice(0, mayGo);
    candidates.push(...idle);
  }
  candidates.sort(byPriority);
  if (candidates.reduce((sum, c) => sum + c.sizeMiB, 0) < needMiB) return { victims: [], clock };
  const victims: GdsfChoice<T>['victims'] = [];
  let freed = 0;
  let next = clock;
  for (const c of candidates) {
    if (freed >= needMiB) break;
    freed += c.sizeMiB;
    next = Math.max(next, c.priority);
    victims.push({ item: c.item, pool: c.pool, sizeMiB: c.sizeMiB, priority: c.priority });
  }
  return { victims, clock: next };
}

function byPriority(
  a: { priority: number; lastUsed: number },
  b: { priority: number; lastUsed: number },
): number {
  return a.priority - b.priority || a.lastUsed - b.lastUsed;
}
