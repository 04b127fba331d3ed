import {
  FunctionRemoved,
  type ImportReply,
  ImportRequest,
  isThawError,
  type Logger,
  type LogsReply,
  LogsRequest,
  type PlaceReply,
  PlaceRequest,
  ThawError,
} from '@thaw/shared';
import { JSONCodec, type Msg } from 'nats';
import type { ImageFetcher } from '../images/fetcher.js';
import type { LogCollector } from '../logs/collector.js';
import { type FunctionTable, poolsOf } from './functions.js';
import type { Placements } from './placements.js';

export interface SubjectHandlersOptions {
  workerId: string;
  table: FunctionTable;
  placements: Placements;
  images: Pick<ImageFetcher, 'importObject'>;
  logs: () => LogCollector | undefined;
  /** True once the worker drains: no placement is taken. */
  draining: () => boolean;
  /** Prefix of the logs subject, before the function's name. */
  logsPrefix: string;
  log: Logger;
}

const json = JSONCodec<unknown>();

function errorReply(err: unknown): { code: string; message: string } {
  if (isThawError(err)) return { code: err.code, message: err.message };
  return { code: 'INTERNAL', message: (err as Error)?.message ?? String(err) };
}

/** What the worker does with each NATS request it hears, other than invocations. */
export class SubjectHandlers {
  constructor(private readonly opts: SubjectHandlersOptions) {}

  async onImport(msg: Msg): Promise<void> {
    let reply: ImportReply;
    try {
      const req = ImportRequest.parse(json.decode(msg.data));
      const stored = await this.opts.images.importObject(req.object);
      reply = { ok: true, digest: stored.digest, size: stored.size };
    } catch (err) {
      this.opts.log.warn({ err }, 'image import failed');
      reply = { ok: false, error: errorReply(err) };
    }
    msg.respond(json.encode(reply));
  }

  async onPlace(msg: Msg): Promise<void> {
    let reply: PlaceReply;
    try {
      if (this.opts.draining()) throw new ThawError('NO_WORKER', `worker ${this.opts.workerId} is draining`);
      const req = PlaceRequest.parse(json.decode(msg.data));
      const digest = await this.opts.placements.place(req);
      reply = { ok: true, workerId: this.opts.workerId, digest };
    } catch (err) {
      this.opts.log.warn({ err }, 'placement failed');
      reply = { ok: false, error: errorReply(err) };
    }
    msg.respond(json.encode(reply));
  }

  /** A new revision: those holding the function roll to it. */
  async onUpdated(msg: Msg): Promise<void> {
    const parsed = PlaceRequest.safeParse(json.decode(msg.data));
    if (!parsed.success || !this.opts.table.has(parsed.data.fn.name) || this.opts.draining()) return;
    await this.opts.placements
      .place(parsed.data)
      .catch((err: unknown) =>
        this.opts.log.warn(
          { err, fn: parsed.data.fn.name },
          'rolling to the new revision failed; the old one serves on',
        ),
      );
  }

  async onRemoved(msg: Msg): Promise<void> {
    const parsed = FunctionRemoved.safeParse(json.decode(msg.data));
    if (parsed.success) await this.opts.placements.drop(parsed.data.name);
  }

  /** Scale to zero on request: the function's idle instances above its minimum go. */
  async onScaleToZero(msg: Msg): Promise<void> {
    const parsed = FunctionRemoved.safeParse(json.decode(msg.data));
    const entry = parsed.success ? this.opts.table.get(parsed.data.name) : undefined;
    if (!entry) return;
    this.opts.log.info({ fn: entry.fn.name }, 'scaling to zero on request');
    await Promise.all(poolsOf(entry).map((h) => h.scaleToZero()));
  }

  /** The recent lines this worker holds of a function. */
  onLogs(msg: Msg): void {
    const parsed = LogsRequest.safeParse(json.decode(msg.data));
    if (!parsed.success) return;
    const fn = msg.subject.slice(this.opts.logsPrefix.length);
    const reply: LogsReply = {
      workerId: this.opts.workerId,
      entries: this.opts.logs()?.lines(fn, parsed.data.since, parsed.data.limit) ?? [],
    };
    msg.respond(json.encode(reply));
  }
}
