import type { Runtime } from '@thaw/runtime';
import {
  type FunctionRecord,
  FunctionRemoved,
  type ImportReply,
  ImportRequest,
  InvokeHeader,
  isThawError,
  type Logger,
  type PlaceReply,
  PlaceRequest,
  type Subjects,
  ThawError,
  WORKER_QUEUE,
  type WorkerHeartbeat,
} from '@thaw/shared';
import { JSONCodec, type Msg, type NatsConnection, headers as natsHeaders, type Subscription } from 'nats';
import { FunctionHost, type HostOptions } from './function-host.js';
import type { ImageFetcher } from './images.js';
import { encodeReply, parseInvoke } from './proxy.js';

const json = JSONCodec<unknown>();
const EMPTY = new Uint8Array(0);

function wireError(err: unknown): { code: string; message: string } {
  if (isThawError(err)) return { code: err.code, message: err.message };
  return { code: 'INTERNAL', message: (err as Error)?.message ?? String(err) };
}

/** The worker's NATS face: placement, image import, invocations and removals. */
export class WorkerService {
  private readonly hosts = new Map<
    string,
    { host: FunctionHost; sub?: Subscription; placing: Promise<string> }
  >();
  private readonly subs: Subscription[] = [];
  private readonly accepted = natsHeaders();
  private heartbeat: NodeJS.Timeout | undefined;
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
    );
    this.beat();
    this.heartbeat = setInterval(() => this.beat(), this.heartbeatMs);
  }

  /** Idle frozen instances of functions other than `forFunction`, least recently used first, until `needMiB` is free. */
  async evictFor(needMiB: number, forFunction: string): Promise<void> {
    const candidates = [...this.hosts.values()]
      .filter((e) => e.host && e.host.fn.name !== forFunction)
      .flatMap((e) => e.host.evictable().map((inst) => ({ host: e.host, inst })))
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
  gauges(): ReturnType<FunctionHost['gauges']>[] {
    return [...this.hosts.values()].filter((e) => e.host).map((e) => e.host.gauges());
  }

  heartbeatMessage(): WorkerHeartbeat {
    return {
      workerId: this.workerId,
      intervalMs: this.heartbeatMs,
      draining: this.draining,
      memory: { budgetMiB: this.opts.memory.budgetMiB, committedMiB: this.opts.memory.committedMiB },
      functions: [...this.hosts.values()].filter((e) => e.host).map((e) => e.host.snapshot()),
    };
  }

  private beat(): void {
    if (this.nc.isClosed()) return;
    this.nc.publish(this.subjects.heartbeat, json.encode(this.heartbeatMessage()));
  }

  functions(): FunctionRecord[] {
    return [...this.hosts.values()].map((h) => h.host.fn);
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

  /**
   * Takes the function on: image in, first instance started and frozen, then subscribed.
   * Resolves to the image's manifest digest.
   */
  place(req: PlaceRequest): Promise<string> {
    const existing = this.hosts.get(req.fn.name);
    if (existing && existing.host.fn.image === req.fn.image) return existing.placing;
    if (existing) void this.drop(req.fn.name);
    const entry: { host?: FunctionHost; sub?: Subscription; placing: Promise<string> } = {
      placing: Promise.resolve(''),
    };
    entry.placing = (async () => {
      const image = await this.images.ensure(req.image, req.fn.imageDigest);
      const host = new FunctionHost(req.fn, image, this.runtime, this.opts, this.log);
      entry.host = host;
      await host.warm();
      if (this.hosts.get(req.fn.name) !== entry) return image.digest; // removed while starting
      entry.sub = this.nc.subscribe(this.subjects.invoke(req.fn.name), {
        queue: WORKER_QUEUE,
        callback: (_e, m) => void this.onInvoke(host, m),
      });
      return image.digest;
    })();
    this.hosts.set(req.fn.name, entry as { host: FunctionHost; placing: Promise<string> });
    return entry.placing.catch(async (err: unknown) => {
      if (this.hosts.get(req.fn.name) === entry) this.hosts.delete(req.fn.name);
      await entry.host?.close().catch(() => undefined);
      throw err;
    });
  }

  private async onInvoke(host: FunctionHost, msg: Msg): Promise<void> {
    // Taken: from now on the gateway ties the call to this worker's heartbeats.
    if (msg.reply) this.nc.publish(msg.reply, EMPTY, { headers: this.accepted });
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
    await entry.host
      ?.close()
      .catch((err: unknown) => this.log.error({ err, fn: name }, 'removing instances failed'));
    this.log.info({ fn: name }, 'function removed');
  }

  /** Stops taking work, lets in-flight calls finish (up to `drainMs`), removes every instance. */
  async close(drainMs = 30_000): Promise<void> {
    // Heartbeats go on while draining (marked so): the worker is alive, its calls still count.
    this.draining = true;
    this.beat();
    for (const s of this.subs) s.unsubscribe();
    for (const e of this.hosts.values()) e.sub?.unsubscribe();
    await Promise.allSettled([...this.hosts.values()].map((e) => e.host?.drain(drainMs)));
    await Promise.allSettled([...this.hosts.keys()].map((name) => this.drop(name)));
    clearInterval(this.heartbeat);
  }
}
