import type { Runtime } from '@thaw/runtime';
import {
  type FunctionRecord,
  FunctionRemoved,
  type ImportReply,
  ImportRequest,
  InvokeHeader,
  isThawError,
  type Logger,
  type LogsReply,
  LogsRequest,
  type PlaceReply,
  PlaceRequest,
  type Subjects,
  ThawError,
  WORKER_QUEUE,
  type WorkerHeartbeat,
} from '@thaw/shared';
import { JSONCodec, type Msg, type NatsConnection, headers as natsHeaders, type Subscription } from 'nats';
import type { ImageFetcher } from '../images/fetcher.js';
import { encodeReply, parseInvoke } from '../invoke/proxy.js';
import { LogCollector } from '../logs/collector.js';
import type { FunctionGauges } from '../metrics/metrics.js';
import { FunctionHost, type HostOptions } from '../pool/function-host.js';

/**
 * A function on this worker: the pool serving its current revision (`host`, set once its first
 * instances run), the invocation subscription, and pools of older revisions still draining.
 */
interface Entry {
  fn: FunctionRecord;
  host?: FunctionHost;
  sub?: Subscription;
  placing: Promise<string>;
  retiring: Set<FunctionHost>;
}

/** The entry's pools: the current revision's (once it runs) and the draining older ones. */
function poolsOf(e: Entry): FunctionHost[] {
  return e.host ? [e.host, ...e.retiring] : [...e.retiring];
}

/** How long an old revision's calls may take to finish before its instances are removed. */
const RETIRE_DRAIN_MS = 60_000;

const json = JSONCodec<unknown>();
const EMPTY = new Uint8Array(0);

function wireError(err: unknown): { code: string; message: string } {
  if (isThawError(err)) return { code: err.code, message: err.message };
  return { code: 'INTERNAL', message: (err as Error)?.message ?? String(err) };
}

/** The worker's NATS face: placement, image import, invocations and removals. */
export class WorkerService {
  private readonly hosts = new Map<string, Entry>();
  private readonly subs: Subscription[] = [];
  private readonly accepted = natsHeaders();
  // Calls taken recently (reply subject → when), to run a resent copy only once.
  private readonly taken = new Map<string, number>();
  private heartbeat: NodeJS.Timeout | undefined;
  private logs: LogCollector | undefined;
  private draining = false;

  constructor(
    readonly workerId: string,
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    private readonly runtime: Runtime,
    private readonly images: ImageFetcher,
    private readonly opts: HostOptions,
    private readonly log: Logger,
    private readonly heartbeatMs = 500,
  ) {
    this.accepted.set(InvokeHeader.accepted, workerId);
  }

  /**
   * A new instance's log files are watched at once: the collector's periodic pass would find
   * it only up to 250 ms later, time enough to write hundreds of MiB past the bound.
   */
  private hostOptions(): HostOptions {
    return { ...this.opts, instanceAdded: () => this.logs?.collect() };
  }

  start(): void {
    this.subs.push(
      // Gateways address placements to the worker with most room (from heartbeats); the queue
      // group is the fallback for a gateway that has heard no heartbeat yet.
      this.nc.subscribe(this.subjects.placeOn(this.workerId), {
        callback: (_e, msg) => void this.onPlace(msg),
      }),
      this.nc.subscribe(this.subjects.place, {
        queue: WORKER_QUEUE,
        callback: (_e, msg) => void this.onPlace(msg),
      }),
      this.nc.subscribe(this.subjects.importImage, {
        queue: WORKER_QUEUE,
        callback: (_e, msg) => void this.onImport(msg),
      }),
      // Every worker hears removals (no queue group): each drops its own instances.
      this.nc.subscribe(this.subjects.functionRemoved, { callback: (_e, msg) => void this.onRemoved(msg) }),
      // Every worker hears updates; those holding the function roll to the new revision.
      this.nc.subscribe(this.subjects.functionUpdated, { callback: (_e, msg) => void this.onUpdated(msg) }),
    );
    this.beat();
    this.heartbeat = setInterval(() => {
      this.beat();
      // Resends come within a few seconds; a call older than 15 s will not be sent again.
      const old = Date.now() - 15_000;
      for (const [reply, at] of this.taken) {
        if (at >= old) break; // in insertion order: the rest are newer
        this.taken.delete(reply);
      }
    }, this.heartbeatMs);
    this.logs = new LogCollector(
      () => this.pools(),
      (fn, entries) => {
        if (!this.nc.isClosed()) this.nc.publish(this.subjects.logsLive(fn), json.encode(entries));
      },
    );
    // Every worker answers (no queue group): the gateway merges what each holds.
    const logsPrefix = this.subjects.logs('');
    this.subs.push(
      this.nc.subscribe(this.subjects.logs('*'), {
        callback: (_e, msg) => {
          const parsed = LogsRequest.safeParse(json.decode(msg.data));
          if (!parsed.success) return;
          const fn = msg.subject.slice(logsPrefix.length);
          const reply: LogsReply = {
            workerId: this.workerId,
            entries: this.logs?.lines(fn, parsed.data.since, parsed.data.limit) ?? [],
          };
          msg.respond(json.encode(reply));
        },
      }),
    );
  }

  /** Idle frozen instances of functions other than `forFunction`, least recently used first, until `needMiB` is free. */
  async evictFor(needMiB: number, forFunction: string): Promise<void> {
    const candidates = this.pools()
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
      this.log.info(
        { fn: c.host.fn.name, container: c.inst.container.id, for: forFunction },
        'evicting an idle instance for memory',
      );
      evictions.push(c.host.evict(c.inst));
    }
    await Promise.all(evictions);
  }

  /** Every function's gauges, for the metrics. */
  gauges(): FunctionGauges[] {
    return this.pools().map((h) => h.gauges());
  }

  heartbeatMessage(): WorkerHeartbeat {
    return {
      workerId: this.workerId,
      intervalMs: this.heartbeatMs,
      draining: this.draining,
      memory: { budgetMiB: this.opts.memory.budgetMiB, committedMiB: this.opts.memory.committedMiB },
      // Draining old revisions count too: their instances still hold memory.
      functions: [...this.hosts.values()].flatMap((e) => {
        const snaps = poolsOf(e).map((h) => h.snapshot());
        const [first, ...rest] = snaps;
        if (!first) return [];
        return [
          {
            ...first,
            starting: snaps.reduce((n, x) => n + x.starting, 0),
            instances: [...first.instances, ...rest.flatMap((x) => x.instances)],
          },
        ];
      }),
    };
  }

  private beat(): void {
    if (this.nc.isClosed()) return;
    this.nc.publish(this.subjects.heartbeat, json.encode(this.heartbeatMessage()));
  }

  functions(): FunctionRecord[] {
    return [...this.hosts.values()].map((e) => e.fn);
  }

  private async onImport(msg: Msg): Promise<void> {
    let reply: ImportReply;
    try {
      const req = ImportRequest.parse(json.decode(msg.data));
      const stored = await this.images.importObject(req.object);
      reply = { ok: true, digest: stored.digest, size: stored.size };
    } catch (err) {
      this.log.warn({ err }, 'image import failed');
      reply = { ok: false, error: wireError(err) };
    }
    msg.respond(json.encode(reply));
  }

  private async onPlace(msg: Msg): Promise<void> {
    let reply: PlaceReply;
    try {
      if (this.draining) throw new ThawError('NO_WORKER', `worker ${this.workerId} is draining`);
      const req = PlaceRequest.parse(json.decode(msg.data));
      const digest = await this.place(req);
      reply = { ok: true, workerId: this.workerId, digest };
    } catch (err) {
      this.log.warn({ err }, 'placement failed');
      reply = { ok: false, error: wireError(err) };
    }
    msg.respond(json.encode(reply));
  }

  /** Every pool on this worker: current revisions and draining old ones. */
  private pools(): FunctionHost[] {
    return [...this.hosts.values()].flatMap(poolsOf);
  }

  /**
   * Takes the function on: image in, first instances started and frozen, then subscribed.
   * For a function held already, a newer revision rolls (see `roll`); the same or an older
   * one is a no-op. Resolves to the image's manifest digest.
   */
  place(req: PlaceRequest): Promise<string> {
    const existing = this.hosts.get(req.fn.name);
    if (existing) {
      return req.fn.revision > existing.fn.revision ? this.roll(existing, req) : existing.placing;
    }
    const entry: Entry = { fn: req.fn, placing: Promise.resolve(''), retiring: new Set() };
    entry.placing = (async () => {
      const image = await this.images.ensure(req.image, req.fn.imageDigest);
      const host = new FunctionHost(req.fn, image, this.runtime, this.hostOptions(), this.log);
      entry.host = host;
      await host.warm();
      if (this.hosts.get(req.fn.name) !== entry) return image.digest; // removed while starting
      // The callback reads entry.host per call, so a roll switches new calls to the new pool.
      entry.sub = this.nc.subscribe(this.subjects.invoke(req.fn.name), {
        queue: WORKER_QUEUE,
        callback: (_e, m) => void this.onInvoke(entry, m),
      });
      return image.digest;
    })();
    this.hosts.set(req.fn.name, entry);
    return entry.placing.catch(async (err: unknown) => {
      if (this.hosts.get(req.fn.name) === entry) this.hosts.delete(req.fn.name);
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
      const image = await this.images.ensure(req.image, req.fn.imageDigest);
      const next = new FunctionHost(req.fn, image, this.runtime, this.hostOptions(), this.log);
      try {
        await next.warm();
      } catch (err) {
        await next.close().catch(() => undefined);
        throw err;
      }
      // Removed meanwhile, or overtaken by a newer revision: this one is not wanted.
      if (this.hosts.get(req.fn.name) !== entry || entry.fn.revision !== req.fn.revision) {
        await next.close().catch(() => undefined);
        return image.digest;
      }
      const old = entry.host;
      entry.host = next;
      this.log.info({ fn: req.fn.name, revision: req.fn.revision }, 'new revision serving');
      if (old) {
        entry.retiring.add(old);
        void old
          .drain(RETIRE_DRAIN_MS)
          .then(() => old.close())
          .catch((err: unknown) =>
            this.log.error({ err, fn: req.fn.name }, 'removing an old revision failed'),
          )
          .finally(() => entry.retiring.delete(old));
      }
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

  private async onUpdated(msg: Msg): Promise<void> {
    const parsed = PlaceRequest.safeParse(json.decode(msg.data));
    if (!parsed.success || !this.hosts.has(parsed.data.fn.name) || this.draining) return;
    await this.place(parsed.data).catch((err: unknown) =>
      this.log.warn(
        { err, fn: parsed.data.fn.name },
        'rolling to the new revision failed; the old one serves on',
      ),
    );
  }

  private async onInvoke(entry: Entry, msg: Msg): Promise<void> {
    // Taken: from now on the gateway ties the call to this worker's heartbeats.
    if (msg.reply) this.nc.publish(msg.reply, EMPTY, { headers: this.accepted });
    // A gateway resends a call it saw no acceptance for within a second; when both copies
    // reach this worker (it was slow, not gone), the call runs once. The reply subject is
    // the call's identity.
    if (msg.reply) {
      if (this.taken.has(msg.reply)) return;
      this.taken.set(msg.reply, Date.now());
    }
    const req = parseInvoke(msg.headers, msg.data);
    if (!req) {
      const bad = encodeReply({
        ok: false,
        code: 'VALIDATION_FAILED',
        message: 'malformed invocation envelope',
      });
      msg.respond(bad.data, { headers: bad.headers });
      return;
    }
    const host = entry.host;
    if (!host) return; // not subscribed before a pool exists
    const result = await host.invoke(req);
    const reply = encodeReply(result);
    if (host.saturated) reply.headers.set(InvokeHeader.saturated, '1');
    msg.respond(reply.data, { headers: reply.headers });
  }

  private async onRemoved(msg: Msg): Promise<void> {
    const parsed = FunctionRemoved.safeParse(json.decode(msg.data));
    if (parsed.success) await this.drop(parsed.data.name);
  }

  async drop(name: string): Promise<void> {
    const entry = this.hosts.get(name);
    if (!entry) return;
    this.hosts.delete(name);
    entry.sub?.unsubscribe();
    await entry.placing.catch(() => undefined);
    entry.sub?.unsubscribe();
    await Promise.all(
      poolsOf(entry).map((h) =>
        h.close().catch((err: unknown) => this.log.error({ err, fn: name }, 'removing instances failed')),
      ),
    );
    this.logs?.forget(name);
    this.log.info({ fn: name }, 'function removed');
  }

  /** Stops taking work, lets in-flight calls finish (up to `drainMs`), removes every instance. */
  async close(drainMs = 30_000): Promise<void> {
    // Heartbeats go on while draining (marked so): the worker is alive, its calls still count.
    this.draining = true;
    this.beat();
    for (const s of this.subs) s.unsubscribe();
    for (const e of this.hosts.values()) e.sub?.unsubscribe();
    await Promise.allSettled(this.pools().map((h) => h.drain(drainMs)));
    await Promise.allSettled([...this.hosts.keys()].map((name) => this.drop(name)));
    clearInterval(this.heartbeat);
    this.logs?.close();
  }
}
