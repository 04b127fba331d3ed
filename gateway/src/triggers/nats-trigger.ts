import { type Logger, ThawError } from '@thaw/shared';
import type { Msg, Subscription } from 'nats';
import { type CallDeps, callFunction, publishResult } from './call.js';
import { hopsOf, messageRefusal, Skips } from './guard.js';
import { envelopeOf } from './mapping.js';
import { ReplyCheck } from './reply.js';
import { Slots } from './slots.js';

/** Messages kept waiting for a slot per trigger on one gateway; past it they are refused (OVERLOADED). */
export const MAX_WAITING_MESSAGES = 1000;
/** A flood's refusals are logged at most this often per trigger. */
const REFUSAL_LOG_EVERY_MS = 10_000;

export interface NatsTriggerOptions extends CallDeps {
  fn: string;
  subject: string;
  path: string;
  replySubject?: string | undefined;
  /** The queue group shared by every gateway: each message goes to one of them. */
  queue: string;
  /** Calls at once on this gateway. */
  concurrency: number;
  /** THAW_PREFIX: no result goes to thaw's own subjects. */
  prefix: string;
  log: Logger;
}

/**
 * A core NATS subject trigger: at most once (a message no gateway was subscribed for, or one a
 * gateway took and then died with, is not seen again). A request's requester gets the result as
 * its reply, when its reply subject is safe (ReplyCheck: anyone who may publish here chooses
 * it); the replySubject, when set, gets it too.
 */
export class NatsTrigger {
  readonly #sub: Subscription;
  readonly #slots: Slots;
  readonly #waiting: Msg[] = [];
  readonly #replies: ReplyCheck;
  readonly #skips: Skips;
  #refused = 0;
  #refusalLogged = 0;

  constructor(readonly o: NatsTriggerOptions) {
    this.#slots = new Slots(o.concurrency);
    this.#replies = new ReplyCheck({ fn: o.fn, prefix: o.prefix, heard: [o.subject], log: o.log });
    this.#skips = new Skips({ fn: o.fn, log: o.log });
    this.#sub = o.nc.subscribe(o.subject, {
      queue: o.queue,
      callback: (err, msg) => {
        if (err)
          o.log.warn({ fn: o.fn, subject: o.subject, err: err.message }, 'trigger subscription failed');
        else this.#take(msg);
      },
    });
  }

  #take(msg: Msg): void {
    // A loop's last message (or one on a subject the trigger may not read) is dropped, unanswered.
    const why = messageRefusal(msg.subject, hopsOf(msg.headers), this.o.prefix);
    if (why !== undefined) {
      this.#skips.note(msg.subject, why);
      return;
    }
    if (this.#slots.tryAcquire()) {
      this.#run(msg);
      return;
    }
    if (this.#waiting.length < MAX_WAITING_MESSAGES) {
      this.#waiting.push(msg);
      return;
    }
    this.#refuse(msg);
  }

  #run(msg: Msg): void {
    const env = envelopeOf(msg, this.o.path, { type: 'nats' });
    void callFunction(this.o, this.o.fn, env)
      .then((outcome) =>
        publishResult(this.o.nc, this.#to(msg), this.o.fn, msg.subject, outcome, hopsOf(msg.headers)),
      )
      .catch((err: Error) =>
        this.o.log.warn({ fn: this.o.fn, err: err.message }, 'publishing a trigger result failed'),
      )
      .finally(() => {
        // The slot goes to the next waiting message, if any, so the order of arrival is kept.
        const next = this.#waiting.shift();
        if (next) this.#run(next);
        else this.#slots.release();
      });
  }

  /** Where a message's result goes: its requester's inbox and the replySubject, the safe ones. */
  #to(msg: Msg): string[] {
    return this.#replies.filter([msg.reply, this.o.replySubject]);
  }

  #refuse(msg: Msg): void {
    const err = new ThawError(
      'OVERLOADED',
      `trigger on "${this.o.subject}" has ${this.o.concurrency} calls running and ${MAX_WAITING_MESSAGES} messages waiting on this gateway`,
    );
    publishResult(this.o.nc, this.#to(msg), this.o.fn, msg.subject, err, hopsOf(msg.headers));
    this.#refused++;
    const now = Date.now();
    if (now - this.#refusalLogged >= REFUSAL_LOG_EVERY_MS) {
      this.#refusalLogged = now;
      this.o.log.warn({ fn: this.o.fn, subject: this.o.subject, refused: this.#refused }, err.message);
    }
  }

  /** Stops taking messages, then waits for the ones taken (run or waiting) up to `waitMs`. */
  async stop(waitMs: number): Promise<void> {
    await this.#sub.drain().catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#slots.idle(),
      new Promise<void>((r) => {
        timer = setTimeout(r, waitMs);
      }),
    ]);
    clearTimeout(timer);
  }
}
