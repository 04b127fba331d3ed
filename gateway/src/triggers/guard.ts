import { type Logger, MAX_TRIGGER_HOPS, TRIGGER_HOPS_HEADER } from '@thaw/shared';
import type { MsgHdrs } from 'nats';
import { subjectsOverlap } from './check.js';

/** Messages skipped are logged at most this often per trigger. */
const SKIP_LOG_EVERY_MS = 10_000;

/** The hop count a message carries (TRIGGER_HOPS_HEADER), 0 when none or not a count. */
export function hopsOf(headers: MsgHdrs | undefined): number {
  const raw = headers?.get(TRIGGER_HOPS_HEADER) ?? '';
  const n = /^\d{1,9}$/.test(raw) ? Number(raw) : 0;
  return n;
}

/**
 * Why a message may not be called, or undefined: a subject of NATS itself ($..., _INBOX...) or of
 * thaw (under `prefix`), or a chain of MAX_TRIGGER_HOPS results already. Checked per message, so
 * a stream that copies (mirror, sources) or once kept such subjects delivers none of them,
 * whatever its settings say now.
 */
export function messageRefusal(subject: string, hops: number, prefix: string): string | undefined {
  if (subject.startsWith('$') || subject.startsWith('_INBOX')) {
    return `its subject "${subject}" is one of NATS itself`;
  }
  if (subject === prefix || subjectsOverlap(subject, `${prefix}.>`)) {
    return `its subject "${subject}" is one of thaw's own`;
  }
  if (hops >= MAX_TRIGGER_HOPS) {
    return `it is the result of ${hops} trigger calls in a chain (at most ${MAX_TRIGGER_HOPS}: a loop?)`;
  }
  return undefined;
}

export interface SkipsOptions {
  fn: string;
  log: Logger;
}

/** Counts one trigger's skipped messages and logs them, rate-limited (a loop or a flood is one line per period). */
export class Skips {
  #skipped = 0;
  #logged = 0;

  constructor(readonly o: SkipsOptions) {}

  note(subject: string, why: string): void {
    this.#skipped++;
    const now = Date.now();
    if (now - this.#logged < SKIP_LOG_EVERY_MS) return;
    this.#logged = now;
    this.o.log.warn(
      { fn: this.o.fn, subject, skipped: this.#skipped },
      `trigger did not call the function for a message: ${why}`,
    );
  }
}
