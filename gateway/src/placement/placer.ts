import type { FunctionRecord, ImageSource, Logger, PlaceReply, WorkerHeartbeat } from '@thaw/shared';
import { ThawError, wireError } from '@thaw/shared';
import { isStoreUnavailable } from '../store/errors.js';

export interface PlacerSettings {
  /**
   * A worker this gateway placed a function on counts as holding it for this long, before its
   * heartbeats show it: no second placement lands there meanwhile.
   */
  recentMs: number;
  /** Under saturation, one more worker per this many ms at most: the last one needs a moment to take load. */
  spreadEveryMs: number;
  /** Placements older than this are forgotten (both windows above are far shorter). */
  forgetAfterMs: number;
}

export const PLACER_DEFAULTS: PlacerSettings = {
  recentMs: 5_000,
  spreadEveryMs: 1_000,
  forgetAfterMs: 60_000,
};

/** What the Placer needs from its collaborators: small, so tests give fakes. */
export interface PlacerOptions {
  /** The live workers' last heartbeats (ClusterView). */
  view: { live(): WorkerHeartbeat[] };
  /** Sends a placement (WorkerClient). */
  client: { place(fn: FunctionRecord, image: ImageSource, to?: string): Promise<PlaceReply> };
  /** The function as stored now (FunctionStore). */
  functions: { get(name: string, opts: { fresh: true }): Promise<FunctionRecord | undefined> };
  /** Where workers get an image (ImageStore). */
  images: { sourceOf(fn: FunctionRecord): Promise<ImageSource> };
  log: Logger;
  /** Counts placements by result (ok, or the error code). */
  onPlaced?: (result: string) => void;
  settings?: Partial<PlacerSettings>;
  now?: () => number;
}

export type Placed = { workerId: string; digest: string };

/**
 * Where functions run: which worker takes a function on, when one more worker takes it under
 * load, and how often. The invoke path asks; it decides nothing itself.
 */
export class Placer {
  private readonly o: PlacerOptions;
  private readonly settings: PlacerSettings;
  private readonly now: () => number;
  // Concurrent placements of one revision share one request.
  private readonly placing = new Map<string, Promise<Placed>>();
  // Placements made here that heartbeats may not show yet: function → worker → when.
  private readonly placed = new Map<string, Map<string, number>>();

  constructor(o: PlacerOptions) {
    this.o = o;
    this.settings = { ...PLACER_DEFAULTS, ...o.settings };
    this.now = o.now ?? Date.now;
  }

  /**
   * The live, non-draining worker with the most free memory that does not hold `fn` yet (nor
   * was given it here a moment ago) and can fit one instance of `memoryMiB`; undefined when
   * none (or no heartbeat heard yet).
   */
  pick(fn: string, memoryMiB: number): string | undefined {
    let best: { id: string; free: number } | undefined;
    for (const b of this.o.view.live()) {
      if (b.draining || b.functions.some((f) => f.name === fn) || this.placedRecently(fn, b.workerId))
        continue;
      const free = b.memory.budgetMiB - b.memory.committedMiB;
      if (free < memoryMiB) continue;
      if (!best || free > best.free) best = { id: b.workerId, free };
    }
    return best?.id;
  }

  /**
   * Asks one worker to take the function on: `target`, or the one with most room by the
   * heartbeats, or (none heard yet) whichever worker of the queue group answers. Concurrent
   * first requests share one placement, so a burst on a cold function does not start an
   * instance per request.
   */
  place(fn: FunctionRecord, image: ImageSource, target?: string): Promise<Placed> {
    const key = `${fn.name}@${fn.revision}`;
    let p = this.placing.get(key);
    if (!p) {
      p = this.send(fn, image, target).finally(() => this.placing.delete(key));
      this.placing.set(key, p);
    }
    return p;
  }

  private async send(fn: FunctionRecord, image: ImageSource, target?: string): Promise<Placed> {
    const to = target ?? this.pick(fn.name, fn.memoryMiB);
    let reply: PlaceReply;
    try {
      reply = await this.o.client.place(fn, image, to);
    } catch (err) {
      // The chosen worker went away since its last heartbeat: let the queue group answer.
      if (!to || !(err instanceof ThawError && err.code === 'NO_WORKER')) throw err;
      reply = await this.o.client.place(fn, image);
    }
    this.o.onPlaced?.(reply.ok ? 'ok' : reply.error.code);
    if (!reply.ok) throw wireError(reply.error.code, reply.error.message);
    this.notePlaced(fn.name, reply.workerId);
    this.o.log.info({ fn: fn.name, worker: reply.workerId }, 'function placed');
    return { workerId: reply.workerId, digest: reply.digest };
  }

  /**
   * Places the function as it is stored now (a cached copy may be of a function deleted a
   * moment ago through another gateway: placing it would bring it back). Returns the record
   * placed, or undefined when the function is gone.
   */
  async placeCurrent(name: string, target?: string): Promise<FunctionRecord | undefined> {
    const current = await this.o.functions.get(name, { fresh: true });
    if (!current) return undefined;
    await this.place(current, await this.o.images.sourceOf(current), target);
    return current;
  }

  /**
   * The workers holding `fn` refused a call (OVERLOADED): place it on one with room, if there
   * is one, and say whether a resend can go there. Redis down: no placement can be decided on,
   * and the caller hears OVERLOADED, which is true.
   */
  async relieve(fn: FunctionRecord): Promise<boolean> {
    const target = this.pick(fn.name, fn.memoryMiB);
    if (!target) return false;
    const current = await this.o.functions.get(fn.name, { fresh: true }).catch((err: unknown) => {
      if (isStoreUnavailable(err)) return undefined;
      throw err;
    });
    if (!current) return false;
    await this.place(current, await this.o.images.sourceOf(current), target);
    return true;
  }

  /**
   * The function's pool is full where it runs: place it on one more worker with room, in the
   * background (the request that told us is answered already), at most one per
   * `spreadEveryMs`. A failure is dropped: the next saturated reply tries again.
   */
  spread(fn: FunctionRecord): void {
    if (this.now() - this.lastPlaced(fn.name) < this.settings.spreadEveryMs) return;
    const target = this.pick(fn.name, fn.memoryMiB);
    if (!target) return;
    void this.placeCurrent(fn.name, target).catch(() => undefined);
  }

  /** Records a placement at once, before the worker's next heartbeat shows it. */
  private notePlaced(fn: string, workerId: string): void {
    const now = this.now();
    for (const [name, m] of this.placed) {
      for (const [id, at] of m) if (now - at > this.settings.forgetAfterMs) m.delete(id);
      if (m.size === 0) this.placed.delete(name);
    }
    const m = this.placed.get(fn) ?? new Map<string, number>();
    m.set(workerId, now);
    this.placed.set(fn, m);
  }

  /** When this gateway last placed `fn` anywhere (0 if never). */
  private lastPlaced(fn: string): number {
    return Math.max(0, ...(this.placed.get(fn)?.values() ?? []));
  }

  private placedRecently(fn: string, workerId: string): boolean {
    const at = this.placed.get(fn)?.get(workerId);
    return at !== undefined && this.now() - at < this.settings.recentMs;
  }
}
