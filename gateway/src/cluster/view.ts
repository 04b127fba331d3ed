import { type Logger, type RemovalReason, type Subjects, WorkerHeartbeat } from '@thaw/shared';
import { JSONCodec, type NatsConnection, type Subscription } from 'nats';

const json = JSONCodec<unknown>();

/** Heartbeats missed before a worker counts as lost. */
export const MISSED_BEATS = 3;
/** The heartbeat interval assumed for a worker not heard from yet (the workers' default). */
export const ASSUMED_INTERVAL_MS = 500;
/** A worker silent for this long is forgotten, so the map does not grow with every restart. */
export const FORGET_AFTER_MS = 60_000;
/** How often forgotten workers are swept. */
export const SWEEP_EVERY_MS = 10_000;

interface Seen {
  beat: WorkerHeartbeat;
  at: number;
}

type FunctionBeat = WorkerHeartbeat['functions'][number];
/** Instances removed, by why (only the reasons that happened). */
export type Removals = Partial<Record<RemovalReason, number>>;

export interface WorkerInstances {
  worker: string;
  draining: boolean;
  starting: number;
  /** Removed since that worker started (a restarted worker counts from zero again). */
  removed: Removals;
  /** Each with its charged memory and its cold start's phases, when the worker reports them. */
  instances: FunctionBeat['instances'];
}

/** The removals of several workers added up per reason. */
export function totalRemovals(workers: readonly { removed: Removals }[]): Removals {
  const total: Removals = {};
  for (const w of workers) {
    for (const [reason, n] of Object.entries(w.removed) as [RemovalReason, number][]) {
      total[reason] = (total[reason] ?? 0) + n;
    }
  }
  return total;
}

export interface ClusterViewOptions {
  nc: NatsConnection;
  subjects: Subjects;
  log: Logger;
}

/** A worker as GET /v1/workers lists it. */
export type WorkerListing = Omit<WorkerHeartbeat, 'direct'> & {
  lastSeenMs: number;
  direct?: { host: string; port: number };
};

/** What the call path asks about the workers: is the one that took a call still there. */
export interface Liveness {
  alive(workerId: string): boolean | undefined;
  graceMs(workerId: string): number;
}

/**
 * The gateway's view of the workers, built from their heartbeats alone (nothing is stored):
 * who is alive, who has room, and which instances each holds. Every gateway builds its own.
 */
export class ClusterView implements Liveness {
  private readonly workers = new Map<string, Seen>();
  /** Function name → the workers whose last beat lists it. */
  private readonly byFunction = new Map<string, Set<string>>();
  private readonly sub: Subscription;
  private readonly sweeper: NodeJS.Timeout;
  private readonly log: Logger;

  constructor(o: ClusterViewOptions) {
    this.log = o.log;
    this.sub = o.nc.subscribe(o.subjects.heartbeat, {
      callback: (_err, msg) => {
        const parsed = WorkerHeartbeat.safeParse(json.decode(msg.data));
        if (!parsed.success) return;
        const known = this.workers.has(parsed.data.workerId);
        this.index(parsed.data.workerId, this.workers.get(parsed.data.workerId)?.beat, parsed.data);
        this.workers.set(parsed.data.workerId, { beat: parsed.data, at: Date.now() });
        if (!known) this.log.info({ worker: parsed.data.workerId }, 'worker joined');
      },
    });
    this.sweeper = setInterval(() => {
      for (const [id, s] of this.workers) {
        if (Date.now() - s.at > FORGET_AFTER_MS) {
          this.index(id, s.beat, undefined);
          this.workers.delete(id);
        }
      }
    }, SWEEP_EVERY_MS);
    this.sweeper.unref();
  }

  /** Keeps `byFunction` in step with a worker's new beat (undefined: forgotten). */
  private index(worker: string, before: WorkerHeartbeat | undefined, now: WorkerHeartbeat | undefined): void {
    const names = new Set(now?.functions.map((f) => f.name));
    for (const f of before?.functions ?? []) {
      if (names.has(f.name)) continue;
      const holders = this.byFunction.get(f.name);
      holders?.delete(worker);
      if (holders?.size === 0) this.byFunction.delete(f.name);
    }
    for (const name of names) {
      const holders = this.byFunction.get(name);
      if (holders) holders.add(worker);
      else this.byFunction.set(name, new Set([worker]));
    }
  }

  /**
   * The workers whose last heartbeat lists `fn`, live or not (the call path asks per call, so
   * this is an index kept per beat, not a scan of every worker's functions).
   */
  holdersOf(fn: string): ReadonlySet<string> | undefined {
    return this.byFunction.get(fn);
  }

  /** The last heartbeat of `workerId` when it is live. */
  liveBeat(workerId: string): WorkerHeartbeat | undefined {
    return this.alive(workerId) ? this.workers.get(workerId)?.beat : undefined;
  }

  /** Whether `workerId` has been heard from recently enough; undefined if never heard of. */
  alive(workerId: string): boolean | undefined {
    const s = this.workers.get(workerId);
    if (!s) return undefined;
    return Date.now() - s.at <= MISSED_BEATS * s.beat.intervalMs;
  }

  /** How long, in ms, a worker with no heartbeat yet is given before it counts as lost. */
  graceMs(workerId: string): number {
    return MISSED_BEATS * (this.workers.get(workerId)?.beat.intervalMs ?? ASSUMED_INTERVAL_MS);
  }

  /** The last heartbeat of every live worker. */
  live(): WorkerHeartbeat[] {
    return [...this.workers.values()].filter((s) => this.alive(s.beat.workerId)).map((s) => s.beat);
  }

  /** Instances of `fn` per live worker, as their last heartbeats told. */
  instancesOf(fn: string): WorkerInstances[] {
    const out: WorkerInstances[] = [];
    for (const b of this.live()) {
      const f = b.functions.find((x) => x.name === fn);
      if (f)
        out.push({
          worker: b.workerId,
          draining: b.draining,
          starting: f.starting,
          removed: f.removed ?? {},
          instances: f.instances,
        });
    }
    return out.sort((a, b) => a.worker.localeCompare(b.worker));
  }

  /**
   * Live workers, for GET /v1/workers: where their direct link listens, never its token (that
   * travels on NATS only: docs/direct-link.md).
   */
  list(): WorkerListing[] {
    const now = Date.now();
    return [...this.workers.values()]
      .filter((s) => this.alive(s.beat.workerId))
      .map((s) => {
        const { direct, ...beat } = s.beat;
        const listing: WorkerListing = { ...beat, lastSeenMs: now - s.at };
        if (direct) listing.direct = { host: direct.host, port: direct.port };
        return listing;
      })
      .sort((a, b) => a.workerId.localeCompare(b.workerId));
  }

  close(): void {
    this.sub.unsubscribe();
    clearInterval(this.sweeper);
  }
}
