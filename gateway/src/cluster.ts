import { type Logger, type Subjects, WorkerHeartbeat } from '@thaw/shared';
import { JSONCodec, type NatsConnection, type Subscription } from 'nats';

const json = JSONCodec<unknown>();

/** Heartbeats missed before a worker counts as lost. */
const MISSED_BEATS = 3;

interface Seen {
  beat: WorkerHeartbeat;
  at: number;
}

export interface WorkerInstances {
  worker: string;
  draining: boolean;
  starting: number;
  instances: WorkerHeartbeat['functions'][number]['instances'];
}

/**
 * The gateway's view of the workers, built from their heartbeats alone (nothing is stored):
 * who is alive, who has room, and which instances each holds. Every gateway builds its own.
 */
export class Cluster {
  private readonly workers = new Map<string, Seen>();
  // Placements made here that heartbeats may not show yet: function → worker → when.
  private readonly placed = new Map<string, Map<string, number>>();
  private readonly sub: Subscription;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    nc: NatsConnection,
    subjects: Subjects,
    private readonly log: Logger,
  ) {
    this.sub = nc.subscribe(subjects.heartbeat, {
      callback: (_err, msg) => {
        const parsed = WorkerHeartbeat.safeParse(json.decode(msg.data));
        if (!parsed.success) return;
        const known = this.workers.has(parsed.data.workerId);
        this.workers.set(parsed.data.workerId, { beat: parsed.data, at: Date.now() });
        if (!known) this.log.info({ worker: parsed.data.workerId }, 'worker joined');
      },
    });
    // Forget workers long gone, so the map does not grow with every restart.
    this.sweeper = setInterval(() => {
      for (const [id, s] of this.workers) {
        if (Date.now() - s.at > 60_000) this.workers.delete(id);
      }
      for (const [fn, m] of this.placed) {
        for (const [id, at] of m) if (Date.now() - at > 60_000) m.delete(id);
        if (m.size === 0) this.placed.delete(fn);
      }
    }, 10_000);
    this.sweeper.unref();
  }

  /** Whether `workerId` has been heard from recently enough; undefined if never heard of. */
  alive(workerId: string): boolean | undefined {
    const s = this.workers.get(workerId);
    if (!s) return undefined;
    return Date.now() - s.at <= MISSED_BEATS * s.beat.intervalMs;
  }

  /** How long, in ms, a worker with no heartbeat yet is given before it counts as lost. */
  graceMs(workerId: string): number {
    return MISSED_BEATS * (this.workers.get(workerId)?.beat.intervalMs ?? 500);
  }

  private live(): WorkerHeartbeat[] {
    return [...this.workers.values()].filter((s) => this.alive(s.beat.workerId)).map((s) => s.beat);
  }

  /** Records a placement at once, before the worker's next heartbeat shows it. */
  notePlaced(fn: string, workerId: string): void {
    const m = this.placed.get(fn) ?? new Map<string, number>();
    m.set(workerId, Date.now());
    this.placed.set(fn, m);
  }

  /** When this gateway last placed `fn` anywhere (0 if never). */
  lastPlaced(fn: string): number {
    return Math.max(0, ...(this.placed.get(fn)?.values() ?? []));
  }

  private placedRecently(fn: string, workerId: string): boolean {
    const at = this.placed.get(fn)?.get(workerId);
    return at !== undefined && Date.now() - at < 5_000;
  }

  /**
   * The live, non-draining worker with the most free memory that does not hold `fn` yet and can
   * fit one instance of `memoryMiB`; undefined when none (or no heartbeat heard yet).
   */
  pick(fn: string, memoryMiB: number): string | undefined {
    let best: { id: string; free: number } | undefined;
    for (const b of this.live()) {
      if (b.draining || b.functions.some((f) => f.name === fn) || this.placedRecently(fn, b.workerId))
        continue;
      const free = b.memory.budgetMiB - b.memory.committedMiB;
      if (free < memoryMiB) continue;
      if (!best || free > best.free) best = { id: b.workerId, free };
    }
    return best?.id;
  }

  /** Instances of `fn` per live worker, as their last heartbeats told. */
  instancesOf(fn: string): WorkerInstances[] {
    const out: WorkerInstances[] = [];
    for (const b of this.live()) {
      const f = b.functions.find((x) => x.name === fn);
      if (f)
        out.push({ worker: b.workerId, draining: b.draining, starting: f.starting, instances: f.instances });
    }
    return out.sort((a, b) => a.worker.localeCompare(b.worker));
  }

  /** Live workers, for GET /v1/workers. */
  list(): (WorkerHeartbeat & { lastSeenMs: number })[] {
    const now = Date.now();
    return [...this.workers.values()]
      .filter((s) => this.alive(s.beat.workerId))
      .map((s) => ({ ...s.beat, lastSeenMs: now - s.at }))
      .sort((a, b) => a.workerId.localeCompare(b.workerId));
  }

  close(): void {
    this.sub.unsubscribe();
    clearInterval(this.sweeper);
  }
}
