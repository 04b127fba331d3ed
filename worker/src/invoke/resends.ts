import { RESEND_WINDOW_MS } from '../timings.js';

/** How often ids older than the window are dropped (they are kept up to this much longer). */
const FORGET_EVERY_MS = 100;

/**
 * A gateway resends a call it saw no acceptance for within a second; when both copies reach
 * this worker (it was slow, not gone), the call runs once. The reply subject is the call's
 * identity; one older than the resend window is forgotten.
 */
export class ResendFilter {
  /** Reply subject → when taken, in insertion order (oldest first). */
  private readonly taken = new Map<string, number>();
  private lastForget = 0;

  constructor(
    private readonly windowMs = RESEND_WINDOW_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** True the first time a call is seen; false for a copy of one taken within the window. */
  firstTime(reply: string): boolean {
    const now = this.now();
    // Not per call: walking the map's oldest entries cost ~2% of the worker's CPU under load.
    if (now - this.lastForget >= FORGET_EVERY_MS) {
      this.lastForget = now;
      this.forgetBefore(now - this.windowMs);
    }
    if (this.taken.has(reply)) return false;
    this.taken.set(reply, now);
    return true;
  }

  private forgetBefore(old: number): void {
    for (const [reply, at] of this.taken) {
      if (at >= old) break; // in insertion order: the rest are newer
      this.taken.delete(reply);
    }
  }
}
