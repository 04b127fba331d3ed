import type { RunnableImage } from '@thaw/runtime';
import type { FunctionRecord, Logger, PlaceRequest } from '@thaw/shared';
import type { Subscription } from 'nats';
import type { ImageFetcher } from '../images/fetcher.js';
import type { FunctionHost } from '../pool/function-host.js';
import { RETIRE_DRAIN_MS } from '../timings.js';
import { type Entry, type FunctionTable, poolsOf } from './functions.js';

export interface PlacementsOptions {
  table: FunctionTable;
  images: Pick<ImageFetcher, 'ensure'>;
  /** A new pool for a revision of a function (not warmed yet). */
  newHost: (fn: FunctionRecord, image: RunnableImage) => FunctionHost;
  /** Subscribes the entry to its invocations; calls go to `entry.host` as it is at each call. */
  subscribe: (entry: Entry) => Subscription;
  /** The function left this worker. */
  dropped?: (name: string) => void;
  log: Logger;
}

/**
 * Which functions this worker holds, and at which revision: placing a function (image in,
 * first instances started and frozen, then subscribed), rolling it to a newer revision, and
 * dropping it.
 */
export class Placements {
  private readonly table: FunctionTable;
  private readonly log: Logger;

  constructor(private readonly opts: PlacementsOptions) {
    this.table = opts.table;
    this.log = opts.log;
  }

  /**
   * Takes the function on. For a function held already, a newer revision rolls (see `roll`);
   * the same or an older one is a no-op. Resolves to the image's manifest digest.
   */
  place(req: PlaceRequest): Promise<string> {
    const existing = this.table.get(req.fn.name);
    if (existing) {
      return req.fn.revision > existing.fn.revision ? this.roll(existing, req) : existing.placing;
    }
    const entry: Entry = { fn: req.fn, placing: Promise.resolve(''), retiring: new Set() };
    entry.placing = (async () => {
      const image = await this.opts.images.ensure(req.image, req.fn.imageDigest);
      const host = this.opts.newHost(req.fn, image);
      entry.host = host;
      await host.warm();
      if (this.table.get(req.fn.name) !== entry) return image.digest; // removed while starting
      entry.sub = this.opts.subscribe(entry);
      return image.digest;
    })();
    this.table.set(req.fn.name, entry);
    return entry.placing.catch(async (err: unknown) => {
      if (this.table.get(req.fn.name) === entry) this.table.delete(req.fn.name);
      await entry.host?.close().catch(() => undefined);
      throw err;
    });
  }

  /**
   * A new revision of a function held here: its pool starts (first instances running and
   * frozen) while the old one goes on serving; then new calls go to it, and the old pool drains
   * its calls and is removed. Nothing is failed: if the new revision cannot start, the old one
   * stays and the error is the answer.
   */
  private roll(entry: Entry, req: PlaceRequest): Promise<string> {
    entry.fn = req.fn;
    const rolling = (async () => {
      await entry.placing.catch(() => undefined);
      const image = await this.opts.images.ensure(req.image, req.fn.imageDigest);
      const next = this.opts.newHost(req.fn, image);
      try {
        await next.warm();
      } catch (err) {
        await next.close().catch(() => undefined);
        throw err;
      }
      // Removed meanwhile, or overtaken by a newer revision: this one is not wanted.
      if (this.table.get(req.fn.name) !== entry || entry.fn.revision !== req.fn.revision) {
        await next.close().catch(() => undefined);
        return image.digest;
      }
      const old = entry.host;
      entry.host = next;
      this.log.info({ fn: req.fn.name, revision: req.fn.revision }, 'new revision serving');
      if (old) this.retire(entry, old);
      return image.digest;
    })();
    // If the new revision fails, the entry goes on describing the old one, which still serves.
    const previous = entry.placing;
    entry.placing = rolling.catch(() => {
      if (entry.fn.revision === req.fn.revision && entry.host) entry.fn = entry.host.fn;
      return previous;
    });
    return rolling;
  }

  /** The old revision's pool finishes its calls (within the retire drain) and is removed. */
  private retire(entry: Entry, old: FunctionHost): void {
    entry.retiring.add(old);
    void old
      .drain(RETIRE_DRAIN_MS)
      .then(() => old.close())
      .catch((err: unknown) => this.log.error({ err, fn: old.fn.name }, 'removing an old revision failed'))
      .finally(() => entry.retiring.delete(old));
  }

  /** Stops taking calls for every function: subscriptions end, pools go on with what they hold. */
  unsubscribeAll(): void {
    for (const name of this.table.names()) this.table.get(name)?.sub?.unsubscribe();
  }

  async drop(name: string): Promise<void> {
    const entry = this.table.get(name);
    if (!entry) return;
    this.table.delete(name);
    entry.sub?.unsubscribe();
    await entry.placing.catch(() => undefined);
    entry.sub?.unsubscribe();
    await Promise.all(
      poolsOf(entry).map((h) =>
        h.close().catch((err: unknown) => this.log.error({ err, fn: name }, 'removing instances failed')),
      ),
    );
    this.opts.dropped?.(name);
    this.log.info({ fn: name }, 'function removed');
  }

  /** Drops every function. */
  async dropAll(): Promise<void> {
    await Promise.allSettled(this.table.names().map((name) => this.drop(name)));
  }
}
