import type { Attachment } from '../network/index.js';
import { ReadyPool } from './ready-pool.js';

/**
 * A container's bundle folder with its network namespace set up; a prepared one also has its
 * rootfs mounted and the container created.
 */
export interface Slot {
  /** The container id the slot becomes. */
  id: string;
  bundle: string;
  net: Attachment;
  /** CPU time its preparation cost (network, OCI create), charged to the start that uses it. */
  cpuMs: number;
  /** Its init's pid, once the OCI runtime has created the container (waiting to be started). */
  pid?: number;
}

export interface PreparerOptions {
  /** Network namespaces kept set up ahead (0: none). */
  netnsPoolSize: number;
  /** Root filesystems kept mounted ahead, over all images; the least recently asked for goes first. */
  maxPrepared: number;
  /** A bundle folder with its network set up. */
  newSlot: () => Promise<Slot>;
  /** Removes a slot that will not be used (the runtime's remove: bundle, netns, mounts). */
  remove: (id: string) => Promise<void>;
  onError: (err: unknown) => void;
}

/**
 * What a container start can find ready: network namespaces set up through CNI (any image) and
 * root filesystems mounted for one image each. A taken namespace is replaced in the background;
 * a root filesystem is made again when `prepare` is called for its image.
 */
export class Preparer {
  private readonly netns: ReadyPool<Slot>;
  /** Per image key, in order of the last `prepare` (oldest first). */
  private readonly rootfs = new Map<string, ReadyPool<Slot>>();
  private closed = false;

  constructor(private readonly opts: PreparerOptions) {
    this.netns = new ReadyPool({
      size: opts.netnsPoolSize,
      make: opts.newSlot,
      drop: (s) => opts.remove(s.id),
      onError: opts.onError,
    });
  }

  /** Starts filling the namespace pool. */
  start(): void {
    void this.netns.fill();
  }

  /** A slot with its network set up, if one is ready (the pool refills in the background). */
  takeNetwork(): Slot | undefined {
    const slot = this.netns.take();
    if (slot && !this.closed) void this.netns.fill();
    return slot;
  }

  /** A slot with its network and the rootfs of the image `key` names, if one is ready. */
  takeRootfs(key: string): Slot | undefined {
    return this.rootfs.get(key)?.take();
  }

  /**
   * Keeps one rootfs of the image `key` names ready, mounted by `mount` into a slot; resolves
   * when it is. The image asked for longest ago gives its slot up when more than
   * `maxPrepared` images have one.
   */
  async prepare(key: string, mount: (slot: Slot) => Promise<void>): Promise<void> {
    if (this.closed || this.opts.maxPrepared < 1) return;
    let pool = this.rootfs.get(key);
    if (pool) this.rootfs.delete(key);
    pool ??= new ReadyPool<Slot>({
      size: 1,
      make: async () => {
        const slot = this.takeNetwork() ?? (await this.opts.newSlot());
        try {
          await mount(slot);
        } catch (err) {
          await this.opts.remove(slot.id).catch(this.opts.onError);
          throw err;
        }
        return slot;
      },
      drop: (s) => this.opts.remove(s.id),
      onError: this.opts.onError,
    });
    this.rootfs.set(key, pool);
    for (const [k, p] of this.rootfs) {
      if (this.rootfs.size <= this.opts.maxPrepared) break;
      this.rootfs.delete(k);
      await p.close().catch(this.opts.onError);
    }
    await pool.fill();
  }

  /** Removes the slot kept for `key`, if any (its function went). */
  async forget(key: string): Promise<void> {
    const pool = this.rootfs.get(key);
    this.rootfs.delete(key);
    await pool?.close();
  }

  /** Ready slots now: namespaces alone, and rootfs ones. */
  counts(): { netns: number; rootfs: number } {
    let rootfs = 0;
    for (const p of this.rootfs.values()) rootfs += p.size;
    return { netns: this.netns.size, rootfs };
  }

  /** Removes every ready slot and stops making more. */
  async close(): Promise<void> {
    this.closed = true;
    const pools = [this.netns, ...this.rootfs.values()];
    this.rootfs.clear();
    const results = await Promise.allSettled(pools.map((p) => p.close()));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length)
      throw new AggregateError(
        failed.map((f) => f.reason),
        'removing prepared slots failed',
      );
  }
}
