import type { Runtime } from '@thaw/runtime';
import {
  type FunctionRecord,
  type Logger,
  type PlaceRequest,
  type Subjects,
  WORKER_QUEUE,
  type WorkerHeartbeat,
} from '@thaw/shared';
import { JSONCodec, type NatsConnection, type Subscription } from 'nats';
import { DirectServer } from '../direct/server.js';
import type { ImageFetcher } from '../images/fetcher.js';
import { InvokeHandler } from '../invoke/handler.js';
import { Replayer } from '../invoke/replay.js';
import { LogCollector } from '../logs/collector.js';
import type { FunctionGauges } from '../metrics/metrics.js';
import { FunctionHost, type HostOptions } from '../pool/function-host.js';
import { DEFAULT_HEARTBEAT_MS, SHUTDOWN_DRAIN_MS } from '../timings.js';
import { FunctionTable } from './functions.js';
import { SubjectHandlers } from './handlers.js';
import { Heartbeat } from './heartbeat.js';
import { Placements } from './placements.js';

export interface WorkerServiceOptions {
  workerId: string;
  nc: NatsConnection;
  subjects: Subjects;
  runtime: Runtime;
  images: ImageFetcher;
  /** What every pool shares: settings, the memory budget, the start semaphore, metrics. */
  host: HostOptions;
  /** The functions held; made by the caller when others read it too (evictor, metrics). */
  table?: FunctionTable;
  log: Logger;
  /** How often the worker announces itself (HEARTBEAT_MS). */
  heartbeatMs?: number;
  /** Where gateways' direct links are served (THAW_DIRECT); absent: calls come over NATS only. */
  direct?: { host: string; port: number };
}

const json = JSONCodec<unknown>();

/** The worker's NATS face: placement, image import, invocations, removals, logs and heartbeats. */
export class WorkerService {
  readonly workerId: string;
  private readonly table: FunctionTable;
  private readonly placements: Placements;
  private readonly handlers: SubjectHandlers;
  private readonly invocations: InvokeHandler;
  private readonly replayer: Replayer;
  private readonly heartbeat: Heartbeat;
  private readonly heartbeatMs: number;
  private readonly direct: DirectServer | undefined;
  private readonly subs: Subscription[] = [];
  private logs: LogCollector | undefined;
  private draining = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: WorkerServiceOptions) {
    const { workerId, nc, subjects, runtime, log } = opts;
    this.workerId = workerId;
    this.table = opts.table ?? new FunctionTable();
    this.heartbeatMs = opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.invocations = new InvokeHandler({ workerId });
    this.replayer = new Replayer({ nc, subject: subjects.replay, store: this.invocations.store });
    this.direct =
      opts.direct &&
      new DirectServer({
        ...opts.direct,
        route: (fn) => this.route(fn),
        handler: this.invocations,
        nc,
        log,
      });
    // A new instance's log files are watched at once: the collector's periodic pass would find
    // it only up to LOG_PASS_MS later, time enough to write hundreds of MiB past the bound.
    const host: HostOptions = {
      ...opts.host,
      instanceAdded: () => this.logs?.collect(),
      instanceRemoved: (fn, reason) => this.table.countRemoval(fn, reason),
    };
    this.placements = new Placements({
      table: this.table,
      images: opts.images,
      newHost: (fn, image) => new FunctionHost({ ...host, fn, image, runtime, log }),
      // The callback reads entry.host per call, so a roll switches new calls to the new pool.
      subscribe: (entry) =>
        nc.subscribe(subjects.invoke(entry.fn.name), {
          queue: WORKER_QUEUE,
          callback: (_e, m) => void this.invocations.handle(m, () => entry.host),
        }),
      dropped: (name) => this.logs?.forget(name),
      log,
    });
    this.handlers = new SubjectHandlers({
      workerId,
      table: this.table,
      placements: this.placements,
      images: opts.images,
      logs: () => this.logs,
      draining: () => this.draining,
      logsPrefix: subjects.logs(''),
      log,
    });
    this.heartbeat = new Heartbeat({
      nc,
      subject: subjects.heartbeat,
      intervalMs: this.heartbeatMs,
      message: () => this.heartbeatMessage(),
    });
  }

  /** Listens for gateways' direct links (when configured); before start(), so the first beat has it. */
  async listenDirect(): Promise<void> {
    const at = await this.direct?.listen();
    if (at) this.opts.log.info({ host: at.host, port: at.port }, 'direct link listening');
  }

  /** The pool a direct call of `fn` goes to; undefined sends it back to NATS. */
  private route(fn: string): (() => FunctionHost | undefined) | undefined {
    if (this.draining) return undefined;
    const entry = this.table.get(fn);
    return entry?.host ? () => entry.host : undefined;
  }

  start(): void {
    const { nc, subjects } = this.opts;
    const h = this.handlers;
    this.subs.push(
      // Gateways address placements to the worker with most room (from heartbeats); the queue
      // group is the fallback for a gateway that has heard no heartbeat yet.
      nc.subscribe(subjects.placeOn(this.workerId), { callback: (_e, msg) => void h.onPlace(msg) }),
      nc.subscribe(subjects.place, { queue: WORKER_QUEUE, callback: (_e, msg) => void h.onPlace(msg) }),
      nc.subscribe(subjects.importImage, {
        queue: WORKER_QUEUE,
        callback: (_e, msg) => void h.onImport(msg),
      }),
      // Every worker hears removals (no queue group): each drops its own instances.
      nc.subscribe(subjects.functionRemoved, { callback: (_e, msg) => void h.onRemoved(msg) }),
      // Every worker hears scale-to-zero requests; those holding the function remove its idle instances.
      nc.subscribe(subjects.functionScaleToZero, { callback: (_e, msg) => void h.onScaleToZero(msg) }),
      // Every worker hears updates; those holding the function roll to the new revision.
      nc.subscribe(subjects.functionUpdated, { callback: (_e, msg) => void h.onUpdated(msg) }),
      // Every worker hears replay requests (no queue group): the one that sent an answer re-sends it.
      this.replayer.start(),
    );
    this.heartbeat.start();
    this.logs = new LogCollector({
      pools: () => this.table.pools(),
      onLines: (fn, entries) => {
        if (!nc.isClosed()) nc.publish(subjects.logsLive(fn), json.encode(entries));
      },
    });
    // Every worker answers (no queue group): the gateway merges what each holds.
    this.subs.push(nc.subscribe(subjects.logs('*'), { callback: (_e, msg) => h.onLogs(msg) }));
  }

  /** Every function's gauges, for the metrics. */
  gauges(): FunctionGauges[] {
    return this.table.gauges();
  }

  heartbeatMessage(): WorkerHeartbeat {
    const { memory } = this.opts.host;
    return {
      workerId: this.workerId,
      intervalMs: this.heartbeatMs,
      draining: this.draining,
      direct: this.direct?.advertised(),
      memory: { budgetMiB: memory.budgetMiB, committedMiB: memory.committedMiB },
      functions: this.table.snapshots(),
    };
  }

  functions(): FunctionRecord[] {
    return this.table.functions();
  }

  /** Takes the function on (see Placements.place); resolves to the image's manifest digest. */
  place(req: PlaceRequest): Promise<string> {
    return this.placements.place(req);
  }

  drop(name: string): Promise<void> {
    return this.placements.drop(name);
  }

  /**
   * Idempotent. Stops taking work, lets in-flight calls finish (up to `drainMs`), removes
   * every instance.
   */
  close(drainMs = SHUTDOWN_DRAIN_MS): Promise<void> {
    this.closing ??= (async () => {
      // Heartbeats go on while draining (marked so): the worker is alive, its calls still count.
      this.draining = true;
      this.heartbeat.beat();
      for (const s of this.subs) s.unsubscribe();
      this.placements.unsubscribeAll();
      await Promise.allSettled(this.table.pools().map((h) => h.drain(drainMs)));
      await this.placements.dropAll();
      await this.direct?.close();
      this.heartbeat.stop();
      this.replayer.stop();
      this.logs?.close();
    })();
    return this.closing;
  }
}
