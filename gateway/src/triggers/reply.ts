import type { Logger } from '@thaw/shared';
import { subjectsOverlap } from './check.js';

/** Dropped results are logged at most this often per trigger. */
const DROP_LOG_EVERY_MS = 10_000;

const PLAIN_SUBJECT = /^[^\s.*>]+(?:\.[^\s.*>]+)*$/;

/**
 * Why a result may not be published to `subject`, or undefined. Whoever may publish to a
 * trigger's subject chooses a request's reply subject, so it is checked like a replySubject:
 * no wildcards, none of NATS itself ($...) nor of thaw (under `prefix`), and none the trigger
 * listens on (the result would call the function again). `_INBOX...` (a requester's) is fine.
 */
export function unsafeReplySubject(subject: string, prefix: string, heard: string[]): string | undefined {
  if (!PLAIN_SUBJECT.test(subject)) return 'not a plain subject';
  if (subject.startsWith('$')) return 'a subject of NATS itself';
  if (subject === prefix || subjectsOverlap(subject, `${prefix}.>`)) return "one of thaw's own subjects";
  if (heard.some((h) => subjectsOverlap(subject, h))) return 'a subject the trigger listens on';
  return undefined;
}

export interface ReplyCheckOptions {
  fn: string;
  prefix: string;
  /** The subjects the trigger listens on (a JetStream trigger's: its stream's, updated as it is read). */
  heard: string[];
  log: Logger;
}

/** Keeps one trigger's results off unsafe subjects, and says so in the log (rate-limited). */
export class ReplyCheck {
  #dropped = 0;
  #logged = 0;

  /** The subjects the trigger listens on now. */
  heard: string[];

  constructor(readonly o: ReplyCheckOptions) {
    this.heard = o.heard;
  }

  /** The subjects of `to` a result may be published to. */
  filter(to: (string | undefined)[]): string[] {
    return to.filter((s): s is string => {
      if (s === undefined || s === '') return false;
      const why = unsafeReplySubject(s, this.o.prefix, this.heard);
      if (why === undefined) return true;
      this.#dropped++;
      const now = Date.now();
      if (now - this.#logged >= DROP_LOG_EVERY_MS) {
        this.#logged = now;
        this.o.log.warn(
          { fn: this.o.fn, replySubject: s, dropped: this.#dropped },
          `trigger result not published to "${s}": ${why}`,
        );
      }
      return false;
    });
  }
}
