import { closeSync, openSync, readSync, statSync, truncateSync } from 'node:fs';
import type { LogEntry } from '@thaw/shared';
import type { FunctionHost } from './function-host.js';

export interface LogLimits {
  /** Lines kept per function (oldest dropped first). */
  linesPerFunction: number;
  /** Bytes of line text kept per function. */
  bytesPerFunction: number;
  /** A longer line is cut (and marked) here. */
  maxLineBytes: number;
  /** A log file larger than this is truncated once read (the container writes with O_APPEND). */
  maxFileBytes: number;
}

export const DEFAULT_LOG_LIMITS: LogLimits = {
  linesPerFunction: 5000,
  bytesPerFunction: 2 * 1024 * 1024,
  maxLineBytes: 16 * 1024,
  maxFileBytes: 8 * 1024 * 1024,
};

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
 * instance appended to its log files since the last look (frozen ones once more after they
 * froze, then not at all, so hundreds of frozen instances cost nothing), keeps each
 * function's recent lines in a bounded ring and hands new lines to `onLines` (live followers).
 */
export class LogCollector {
  private readonly tails = new Map<string, Tail>();
  private readonly rings = new Map<string, Ring>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pools: () => FunctionHost[],
    private readonly onLines: (fn: string, entries: LogEntry[]) => void,
    private readonly limits: LogLimits = DEFAULT_LOG_LIMITS,
    everyMs = 250,
  ) {
    this.timer = setInterval(() => this.collect(), everyMs);
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
          };
          this.tails.set(id, tail);
        }
        const frozen = inst.container.state === 'frozen';
        if (frozen && tail.quietSince === inst.lastUsed) continue;
        const fresh = [...this.read(id, tail, 'stdout'), ...this.read(id, tail, 'stderr')];
        tail.quietSince = frozen ? inst.lastUsed : undefined;
        if (fresh.length === 0) continue;
        let ring = this.rings.get(tail.fn);
        if (!ring) {
          ring = new Ring(this.limits);
          this.rings.set(tail.fn, ring);
        }
        for (const e of fresh) ring.push(e);
        this.onLines(tail.fn, fresh);
      }
    }
    for (const id of this.tails.keys()) if (!seen.has(id)) this.tails.delete(id);
  }

  private read(id: string, tail: Tail, stream: Stream): LogEntry[] {
    const path = tail.paths[stream];
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      return []; // removed with its container
    }
    if (size < tail.offset[stream]) tail.offset[stream] = 0; // truncated
    if (size === tail.offset[stream]) return [];
    const want = Math.min(size - tail.offset[stream], 1024 * 1024);
    const buf = Buffer.alloc(want);
    const fd = openSync(path, 'r');
    let got = 0;
    try {
      got = readSync(fd, buf, 0, want, tail.offset[stream]);
    } finally {
      closeSync(fd);
    }
    tail.offset[stream] += got;
    if (tail.offset[stream] >= this.limits.maxFileBytes) {
      truncateSync(path, 0);
      tail.offset[stream] = 0;
    }
    const text = tail.partial[stream] + buf.subarray(0, got).toString('utf8');
    const parts = text.split('\n');
    tail.partial[stream] = (parts.pop() ?? '').slice(0, this.limits.maxLineBytes);
    const t = new Date().toISOString();
    return parts.map((raw) => ({
      t,
      instance: id,
      revision: tail.revision,
      stream,
      line: raw.length > this.limits.maxLineBytes ? `${raw.slice(0, this.limits.maxLineBytes)} [cut]` : raw,
    }));
  }

  close(): void {
    clearInterval(this.timer);
  }
}
