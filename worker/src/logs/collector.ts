import { closeSync, openSync, readSync, statSync, truncateSync } from 'node:fs';
import type { LogEntry } from '@thaw/shared';
import type { FunctionHost } from '../pool/function-host.js';
import { LOG_PASS_MS } from '../timings.js';
import { type CutCells, cut, LogCutter, newCutCells } from './cutter.js';

export interface LogLimits {
  /** Lines kept per function (oldest dropped first). */
  linesPerFunction: number;
  /** Bytes of line text kept per function. */
  bytesPerFunction: number;
  /** A longer line is cut (and marked) here. */
  maxLineBytes: number;
  /**
   * The bound of each log file on disk. A file that reaches it is truncated at once (the
   * container writes with O_APPEND, so it goes on writing at the new end); what had not been
   * read by then is dropped, and a marker line says how much.
   */
  maxFileBytes: number;
}

export const DEFAULT_LOG_LIMITS: LogLimits = {
  linesPerFunction: 5000,
  bytesPerFunction: 2 * 1024 * 1024,
  maxLineBytes: 16 * 1024,
  maxFileBytes: 8 * 1024 * 1024,
};

export interface LogCollectorOptions {
  /** Every pool on this worker, read at each pass. */
  pools: () => FunctionHost[];
  /** New lines of a function, for live followers. */
  onLines: (fn: string, entries: LogEntry[]) => void;
  limits?: LogLimits;
  /** How often running instances' files are read. */
  everyMs?: number;
}

type Stream = 'stdout' | 'stderr';

interface Tail {
  fn: string;
  revision: number;
  paths: Record<Stream, string>;
  offset: Record<Stream, number>;
  partial: Record<Stream, string>;
  /**
   * The instance's last use (`lastUsed`) when it was read while frozen: until it is used
   * again it writes nothing, and is not looked at.
   */
  quietSince: number | undefined;
  /** Shared with the cutting thread. */
  cells: Record<Stream, CutCells>;
  /** The generation of each file when last read: a new one means it was cut since. */
  gen: Record<Stream, bigint>;
}

/** One function's recent lines: a bounded ring, oldest dropped first. */
class Ring {
  readonly entries: LogEntry[] = [];
  private bytes = 0;

  constructor(private readonly limits: LogLimits) {}

  push(e: LogEntry): void {
    this.entries.push(e);
    this.bytes += e.line.length;
    while (this.entries.length > this.limits.linesPerFunction || this.bytes > this.limits.bytesPerFunction) {
      const old = this.entries.shift();
      if (!old) break;
      this.bytes -= old.line.length;
    }
  }
}

/**
 * Collects the stdout and stderr of every instance on this worker: it reads what each running
 * instance appended to its log files since the last look (frozen ones until they are read to
 * the end, then not at all, so hundreds of frozen instances cost nothing), keeps each
 * function's recent lines in a bounded ring and hands new lines to `onLines` (live followers).
 *
 * The files on disk stay within `maxFileBytes`: a pass every `LOG_PASS_MS` reads at most 1 MiB of each,
 * which a function can outwrite a hundredfold, so a thread (`LogCutter`) watches every file and
 * truncates it the moment it reaches the bound; what was not read by then is dropped and
 * counted in a marker line. A frozen instance cannot write, so its files stay as they were
 * when it froze: within the bound.
 */
export class LogCollector {
  private readonly tails = new Map<string, Tail>();
  private readonly rings = new Map<string, Ring>();
  private readonly timer: NodeJS.Timeout;
  private readonly cutter: LogCutter;

  private readonly pools: () => FunctionHost[];
  private readonly onLines: (fn: string, entries: LogEntry[]) => void;
  private readonly limits: LogLimits;

  constructor(opts: LogCollectorOptions) {
    this.pools = opts.pools;
    this.onLines = opts.onLines;
    this.limits = opts.limits ?? DEFAULT_LOG_LIMITS;
    this.cutter = new LogCutter(this.limits.maxFileBytes);
    this.timer = setInterval(() => this.collect(), opts.everyMs ?? LOG_PASS_MS);
    this.timer.unref();
  }

  /** Lines of `fn` at or after `since` (ms since the epoch), oldest first, at most `limit`. */
  lines(fn: string, since: number, limit: number): LogEntry[] {
    const all = this.rings.get(fn)?.entries ?? [];
    const from = all.filter((e) => Date.parse(e.t) >= since);
    return from.slice(-limit);
  }

  forget(fn: string): void {
    this.rings.delete(fn);
  }

  /** One pass over every instance; public so that shutdown and tests can flush. */
  collect(): void {
    const seen = new Set<string>();
    for (const pool of this.pools()) {
      for (const inst of pool.instanceList()) {
        const id = inst.container.id;
        seen.add(id);
        let tail = this.tails.get(id);
        if (!tail) {
          tail = {
            fn: pool.fn.name,
            revision: pool.fn.revision,
            paths: inst.container.logPaths,
            offset: { stdout: 0, stderr: 0 },
            partial: { stdout: '', stderr: '' },
            quietSince: undefined,
            cells: { stdout: newCutCells(), stderr: newCutCells() },
            gen: { stdout: 0n, stderr: 0n },
          };
          this.tails.set(id, tail);
          for (const stream of ['stdout', 'stderr'] as const) {
            this.cutter.watch(`${id}/${stream}`, tail.paths[stream], tail.cells[stream]);
          }
        }
        const frozen = inst.container.state === 'frozen';
        if (frozen && tail.quietSince === inst.lastUsed) continue;
        const out = this.read(id, tail, 'stdout');
        const err = this.read(id, tail, 'stderr');
        // Read to the end while frozen: nothing more can come until it is used again.
        tail.quietSince = frozen && out.atEnd && err.atEnd ? inst.lastUsed : undefined;
        this.deliver(tail, [...out.entries, ...err.entries]);
      }
    }
    for (const id of this.tails.keys()) {
      if (seen.has(id)) continue;
      for (const stream of ['stdout', 'stderr'] as const) this.cutter.unwatch(`${id}/${stream}`);
      this.tails.delete(id);
    }
  }

  private deliver(tail: Tail, fresh: LogEntry[]): void {
    if (fresh.length === 0) return;
    let ring = this.rings.get(tail.fn);
    if (!ring) {
      ring = new Ring(this.limits);
      this.rings.set(tail.fn, ring);
    }
    for (const e of fresh) ring.push(e);
    this.onLines(tail.fn, fresh);
  }

  private read(id: string, tail: Tail, stream: Stream): { entries: LogEntry[]; atEnd: boolean } {
    const path = tail.paths[stream];
    const cells = tail.cells[stream];
    const gen = Atomics.load(cells, 0);
    if (gen % 2n === 1n) return { entries: [], atEnd: false }; // being cut right now
    const entries: LogEntry[] = [];
    if (gen !== tail.gen[stream]) {
      // Cut since the last read: the file starts again from nothing.
      tail.gen[stream] = gen;
      tail.offset[stream] = 0;
      // The rest of a line cut off by the drop would join a line it does not belong to.
      tail.partial[stream] = '';
      const dropped = Atomics.exchange(cells, 2, 0n);
      if (dropped > 0n) {
        entries.push({
          t: new Date().toISOString(),
          instance: id,
          revision: tail.revision,
          stream,
          line: `[thaw: at least ${dropped} bytes of ${stream} dropped: written faster than the worker reads logs]`,
        });
      }
    }
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      return { entries, atEnd: true }; // removed with its container
    }
    if (size < tail.offset[stream]) tail.offset[stream] = 0; // truncated by someone else
    if (size === tail.offset[stream]) return { entries, atEnd: true };
    const want = Math.min(size - tail.offset[stream], 1024 * 1024);
    const buf = Buffer.allocUnsafe(want);
    const fd = openSync(path, 'r');
    let got = 0;
    try {
      got = readSync(fd, buf, 0, want, tail.offset[stream]);
    } finally {
      closeSync(fd);
    }
    // The offset is published before the generation is checked again: a cut that comes after
    // counts from it, one that came during the read has counted these bytes as dropped and
    // they are not passed on. Either way nothing is both shown and counted.
    Atomics.store(cells, 1, BigInt(tail.offset[stream] + got));
    if (Atomics.load(cells, 0) !== gen) return { entries, atEnd: false };
    tail.offset[stream] += got;
    const text = tail.partial[stream] + buf.subarray(0, got).toString('utf8');
    const parts = text.split('\n');
    tail.partial[stream] = (parts.pop() ?? '').slice(0, this.limits.maxLineBytes);
    const t = new Date().toISOString();
    for (const raw of parts) {
      entries.push({
        t,
        instance: id,
        revision: tail.revision,
        stream,
        line: raw.length > this.limits.maxLineBytes ? `${raw.slice(0, this.limits.maxLineBytes)} [cut]` : raw,
      });
    }
    // Past the bound and not cut by the thread yet (no inotify watch, or it is behind): cut
    // here; the next read starts the file over and reports what was dropped.
    if (size >= this.limits.maxFileBytes) {
      cut(path, cells, size, truncateSync);
      return { entries, atEnd: false };
    }
    return { entries, atEnd: tail.offset[stream] >= size };
  }

  /** Idempotent: the cutter's close is too. */
  close(): void {
    clearInterval(this.timer);
    this.cutter.close();
  }
}
