import type { Logger } from '@thaw/shared';

/**
 * Refused peers are logged at most once per this long: a scan or a flood of sockets must not
 * turn into a log line per socket.
 */
export const REFUSAL_LOG_MS = 10_000;

export interface RefusalLogOptions {
  log: Logger;
  /** Default REFUSAL_LOG_MS. */
  everyMs?: number;
}

/**
 * Counts the direct-link peers the worker refused (wrong token, broken frames, hello timeout, over
 * the caps) and logs them as one line per period: the first refusal at once, those that follow
 * within the period as a count when it ends.
 */
export class RefusalLog {
  private readonly everyMs: number;
  private count = 0;
  private since = new Date();
  private last: { why: string; remote: string } | undefined;
  private lastLineAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: RefusalLogOptions) {
    this.everyMs = o.everyMs ?? REFUSAL_LOG_MS;
  }

  refused(why: string, remote: string): void {
    if (this.count === 0) this.since = new Date();
    this.count += 1;
    this.last = { why, remote };
    const wait = this.lastLineAt + this.everyMs - Date.now();
    if (wait <= 0) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), wait);
      this.timer.unref();
    }
  }

  /** Logs what is counted (nothing when nothing is) and stops the timer. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.count === 0 || !this.last) return;
    this.o.log.warn(
      { refused: this.count, since: this.since.toISOString(), last: this.last.why, remote: this.last.remote },
      `${this.count} direct-link peers refused since ${this.since.toISOString()}, last: ${this.last.why}`,
    );
    this.count = 0;
    this.lastLineAt = Date.now();
  }
}
