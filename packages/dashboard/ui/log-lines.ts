// The log tail's reading of the follow stream (pure: unit-tested apart from the page).
import type { LogEntry } from './types';

/** A line of the stream: an entry, or a note from the gateway (a plain-text line, such as "fell behind"). */
export type TailItem = { entry: LogEntry } | { note: string };

const key = (e: LogEntry) => `${e.t}|${e.instance}|${e.stream}|${e.line}`;

/**
 * Splits the NDJSON stream into entries across chunk boundaries, and remembers where it got to:
 * a reconnect asks for `since` = the last entry's time, which sends that millisecond's entries
 * again; those already shown are skipped.
 */
export class LogLines {
  private rest = '';
  private lastT: string | undefined;
  /** The entries shown with time lastT. */
  private atLast = new Set<string>();

  /** Where a new follow starts: the last entry's time, or the default window before any. */
  since(initial: string): string {
    return this.lastT ?? initial;
  }

  /** A new connection: a partial line of the old one is dropped (it is sent again). */
  restart(): void {
    this.rest = '';
  }

  push(chunk: string): TailItem[] {
    this.rest += chunk;
    const parts = this.rest.split('\n');
    this.rest = parts.pop() ?? '';
    const out: TailItem[] = [];
    for (const part of parts) {
      if (!part.trim()) continue;
      let entry: LogEntry;
      try {
        entry = JSON.parse(part) as LogEntry;
      } catch {
        out.push({ note: part });
        continue;
      }
      const k = key(entry);
      if (entry.t === this.lastT) {
        if (this.atLast.has(k)) continue;
      } else if (this.lastT !== undefined && entry.t < this.lastT) {
        continue;
      } else {
        this.lastT = entry.t;
        this.atLast = new Set();
      }
      this.atLast.add(k);
      out.push({ entry });
    }
    return out;
  }
}
