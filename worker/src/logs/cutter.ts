import { Worker } from 'node:worker_threads';

/**
 * What the collector and the cutting thread share of one log file, as BigInt64 cells:
 * [0] generation (odd while a cut is under way; +2 per cut), [1] the collector's read offset,
 * [2] bytes dropped by cuts and not yet reported.
 */
export type CutCells = BigInt64Array;

export function newCutCells(): CutCells {
  return new BigInt64Array(new SharedArrayBuffer(3 * 8));
}

/**
 * Truncates a file that reached the bound; false when a cut of it is under way elsewhere. A lock
 * on the generation (so the collector and the thread never cut one file at once), truncate,
 * count what the collector had not read, release. It uses nothing but its parameters and
 * globals: the thread runs this very function from its source text (see THREAD).
 */
export function cut(
  path: string,
  cells: CutCells,
  size: number,
  truncate: (path: string, length: number) => void,
): boolean {
  const g = Atomics.load(cells, 0);
  if (g % 2n === 1n || Atomics.compareExchange(cells, 0, g, g + 1n) !== g) return false;
  try {
    truncate(path, 0);
    const unread = BigInt(size) - Atomics.load(cells, 1);
    if (unread > 0n) Atomics.add(cells, 2, unread);
    Atomics.store(cells, 1, 0n);
  } catch {
    // Removed with its container: nothing to cut.
  }
  Atomics.store(cells, 0, g + 2n);
  return true;
}

const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const { readlinkSync, watch, statSync, truncateSync } = require('node:fs');
const cut = ${cut.toString()};
try {
  // This thread's own nice value (Linux: setpriority on a thread id affects that thread
  // alone): on a busy host it must run the moment a write wakes it, ahead of the writer.
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  require('node:os').setPriority(tid, -20);
} catch {}
const max = workerData.maxFileBytes;
const watches = new Map();
function check(path, cells) {
  let size;
  try { size = statSync(path).size; } catch { return; }
  if (size >= max) cut(path, cells, size, truncateSync);
}
parentPort.on('message', (m) => {
  if (m.op === 'unwatch') {
    watches.get(m.key)?.close();
    watches.delete(m.key);
    return;
  }
  try {
    const w = watch(m.path, { persistent: false }, () => check(m.path, m.cells));
    w.on('error', () => { w.close(); watches.delete(m.key); });
    watches.set(m.key, w);
    check(m.path, m.cells);
  } catch {
    // No watch to be had (the file is gone, or the host's inotify limit): the collector's
    // periodic pass still cuts the file, only later.
  }
});
`;

/**
 * A thread that watches log files (inotify) and truncates each the moment it reaches
 * `maxFileBytes`. A thread of its own, because the collector's event loop may be busy for tens
 * of milliseconds (parsing a MiB of lines, publishing them), in which a function writing to a
 * file in the page cache adds tens of MiB.
 */
export class LogCutter {
  private readonly thread: Worker;
  private closed = false;

  constructor(maxFileBytes: number) {
    this.thread = new Worker(THREAD, { eval: true, workerData: { maxFileBytes } });
    this.thread.unref();
    // Should it die, the collector's periodic pass still cuts files, only later.
    this.thread.on('error', () => undefined);
  }

  watch(key: string, path: string, cells: CutCells): void {
    if (!this.closed) this.thread.postMessage({ op: 'watch', key, path, cells });
  }

  unwatch(key: string): void {
    if (!this.closed) this.thread.postMessage({ op: 'unwatch', key });
  }

  /** Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.thread.terminate();
  }
}
