import type { Logger } from '@thaw/shared';
import {
  AckPolicy,
  type Consumer,
  type ConsumerConfig,
  DeliverPolicy,
  type JsMsg,
  type NatsConnection,
  nanos,
} from 'nats';
import { type CallDeps, callFunction, publishResult } from './call.js';
import { hopsOf, messageRefusal, Skips } from './guard.js';
import { envelopeOf, retryDelay, settled } from './mapping.js';
import { ReplyCheck } from './reply.js';
import { Slots } from './slots.js';
import { currentStream, streamRefusal } from './streams.js';

/** While a trigger's stream (or JetStream) is missing, it is looked for again this often. */
export const STREAM_RETRY_MS = 10_000;
/** Beyond the function's timeout, this long before a message not acknowledged comes again. */
export const ACK_WAIT_EXTRA_MS = 30_000;
/** A pull for the next message is open this long at most (a stopped trigger's pulls end within it). */
export const PULL_EXPIRES_MS = 5000;
/**
 * Pulls one trigger keeps open at most on one gateway. An idle trigger renews each of them every
 * PULL_EXPIRES_MS, and a consumer takes 512 waiting pulls (max_waiting) across all gateways: one
 * per slot would be 200 pulls/s at asyncConcurrency 1000, and more than JetStream holds. A pull
 * only takes a slot for its message, so all asyncConcurrency calls still run at once.
 */
export const MAX_PULLERS = 16;

/** How long a message may stay unacknowledged: it runs as soon as it is fetched. */
export function ackWaitMs(timeoutMs: number): number {
  return timeoutMs + ACK_WAIT_EXTRA_MS;
}

export interface JetStreamTriggerOptions extends CallDeps {
  fn: string;
  stream: string;
  filterSubject?: string | undefined;
  maxDeliver: number;
  path: string;
  replySubject?: string | undefined;
  /** The durable consumer's name, shared by every gateway (each message goes to one). */
  consumer: string;
  /** Calls at once on this gateway. */
  concurrency: number;
  timeoutMs: number;
  /** THAW_PREFIX: the streams and subjects of thaw are not read (streams.ts). */
  prefix: string;
  log: Logger;
}

/** The durable consumer as a trigger wants it. */
export function consumerConfig(o: JetStreamTriggerOptions): Partial<ConsumerConfig> {
  return {
    durable_name: o.consumer,
    description: `thaw: function ${o.fn}`,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(ackWaitMs(o.timeoutMs)),
    max_deliver: o.maxDeliver,
    // From the stream's first message: the consumer is made by a gateway shortly after the
    // deploy, and messages published in between must not be missed.
    deliver_policy: DeliverPolicy.All,
    ...(o.filterSubject ? { filter_subject: o.filterSubject } : {}),
  };
}

/** Creates the durable consumer, or brings an existing one's ack wait and max deliveries up to date. */
async function ensureConsumer(o: JetStreamTriggerOptions): Promise<void> {
  const jsm = await o.nc.jetstreamManager();
  const config = consumerConfig(o);
  try {
    await jsm.consumers.add(o.stream, config);
  } catch (err) {
    // It exists with other settings (another gateway made it for an older revision): update it.
    // Anything else (no such stream) fails the update the same way and is reported.
    const { ack_wait, max_deliver, description } = config;
    await jsm.consumers.update(o.stream, o.consumer, { ack_wait, max_deliver, description }).catch(() => {
      throw err;
    });
  }
}

/** Deletes a trigger's durable consumer (its function or the trigger was removed); gone already is fine. */
export async function deleteConsumer(nc: NatsConnection, stream: string, consumer: string): Promise<void> {
  const jsm = await nc.jetstreamManager();
  await jsm.consumers.delete(stream, consumer).catch((err: Error) => {
    if (!/not found/i.test(err.message)) throw err;
  });
}

/**
 * A JetStream trigger: one durable pull consumer that every gateway reads. At least once: a
 * message is acknowledged only after the function answered (2xx-4xx), given back with a
 * growing delay otherwise, and terminated at its last delivery (logged).
 */
export class JetStreamTrigger {
  /** The calls running now. */
  readonly #running = new Set<Promise<void>>();
  readonly #slots: Slots;
  readonly #replies: ReplyCheck;
  readonly #skips: Skips;
  #stopped = false;
  #wake: (() => void) | undefined;
  /** The last refusal logged (a stream refused is checked every STREAM_RETRY_MS, logged once). */
  #refusal: string | undefined;

  constructor(readonly o: JetStreamTriggerOptions) {
    this.#slots = new Slots(o.concurrency);
    // Until the stream is seen: its subjects are the heard ones (#streamAllowed) without a filter.
    this.#replies = new ReplyCheck({ fn: o.fn, prefix: o.prefix, heard: this.#heard([]), log: o.log });
    this.#skips = new Skips({ fn: o.fn, log: o.log });
    void this.#run();
  }

  /**
   * True when the stream may be read now. Checked before every round, so a stream that did not
   * exist at the deploy (or was made again since) is checked once it appears, before any consumer
   * is made on it; and every STREAM_RETRY_MS during a round (its subjects may be changed).
   */
  async #streamAllowed(): Promise<boolean> {
    const config = await currentStream(this.o.nc, this.o.stream);
    const why = config && streamRefusal(config, this.o.prefix);
    // A result published where the stream keeps it would be read again: a loop.
    if (config) this.#replies.heard = this.#heard(config.subjects ?? []);
    if (why !== undefined && why !== this.#refusal) {
      this.o.log.error(
        { fn: this.o.fn, stream: this.o.stream },
        `JetStream trigger refuses to read: ${why}; checking again every ${STREAM_RETRY_MS / 1000} s`,
      );
    }
    this.#refusal = why;
    return why === undefined;
  }

  /** What the trigger reads: its filter, or all the stream keeps. */
  #heard(streamSubjects: string[]): string[] {
    return this.o.filterSubject !== undefined ? [this.o.filterSubject] : streamSubjects;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        if (await this.#streamAllowed()) {
          await ensureConsumer(this.o);
          const consumer = await this.o.nc.jetstream().consumers.get(this.o.stream, this.o.consumer);
          const round = { failed: false };
          const recheck = setInterval(() => {
            // A failed check is the pulls' to notice; only a refusal ends the round here.
            void this.#streamAllowed()
              .catch(() => true)
              .then((allowed) => {
                if (!allowed) round.failed = true;
              });
          }, STREAM_RETRY_MS);
          const pullers = Math.min(this.o.concurrency, MAX_PULLERS);
          const pulls = await Promise.allSettled(
            Array.from({ length: pullers }, () => this.#pull(consumer, round)),
          ).finally(() => clearInterval(recheck));
          const failed = pulls.find((p): p is PromiseRejectedResult => p.status === 'rejected');
          if (failed) throw failed.reason;
        }
      } catch (err) {
        // A pull still open when the gateway closed its connection: not worth a warning.
        if (this.#stopped) break;
        this.o.log.warn(
          { fn: this.o.fn, stream: this.o.stream, err: (err as Error).message },
          `JetStream trigger cannot read stream "${this.o.stream}"; trying again in ${STREAM_RETRY_MS / 1000} s (create the stream: docs/triggers.md)`,
        );
      }
      if (!this.#stopped) await this.#sleep(STREAM_RETRY_MS);
    }
  }

  /**
   * Pulls a message whenever a slot is free and starts its call, until stopped or until a pull of
   * the round fails. The slot is taken before the pull: nothing is fetched ahead of a free slot,
   * so a trigger stopped strands no message until its ack wait.
   */
  async #pull(consumer: Consumer, round: { failed: boolean }): Promise<void> {
    while (!this.#stopped && !round.failed) {
      await this.#slots.acquire();
      let m: JsMsg | null = null;
      try {
        if (!this.#stopped && !round.failed) m = await consumer.next({ expires: PULL_EXPIRES_MS });
      } catch (err) {
        // The stream or consumer is gone (or JetStream is): the round ends and starts again.
        round.failed = true;
        throw err;
      } finally {
        if (!m) this.#slots.release();
      }
      if (!m) continue;
      if (this.#stopped || round.failed) {
        // Not started: another gateway may take it at once (on a closed connection it comes
        // again after its ack wait); a stream refused since keeps it.
        try {
          m.nak();
        } catch {}
        this.#slots.release();
        return;
      }
      const call: Promise<void> = this.#handle(m).finally(() => {
        this.#running.delete(call);
        this.#slots.release();
      });
      this.#running.add(call);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async #handle(m: JsMsg): Promise<void> {
    const hops = hopsOf(m.headers);
    // Whatever the stream's settings (a mirror or source copies subjects not checked; a stream
    // keeps what it captured before it was changed): such a message is never called.
    const why = messageRefusal(m.subject, hops, this.o.prefix);
    if (why !== undefined) {
      m.term();
      this.#skips.note(m.subject, why);
      return;
    }
    const delivery = m.info.deliveryCount;
    const working = setInterval(() => m.working(), ackWaitMs(this.o.timeoutMs) / 2);
    try {
      const env = envelopeOf(m, this.o.path, {
        type: 'jetstream',
        stream: this.o.stream,
        sequence: m.info.streamSequence,
        delivery,
      });
      const outcome = await callFunction(this.o, this.o.fn, env);
      if (settled(outcome)) {
        // Published before the ack: a gateway dying between the two repeats the result, never loses it.
        const to = this.#replies.filter([this.o.replySubject]);
        publishResult(this.o.nc, to, this.o.fn, m.subject, outcome, hops);
        m.ack();
      } else if (delivery >= this.o.maxDeliver) {
        const to = this.#replies.filter([this.o.replySubject]);
        publishResult(this.o.nc, to, this.o.fn, m.subject, outcome, hops);
        m.term();
        this.o.log.warn(
          { fn: this.o.fn, stream: this.o.stream, sequence: m.info.streamSequence, status: outcome.status },
          `JetStream trigger gave a message up after ${delivery} deliveries (maxDeliver)`,
        );
      } else {
        m.nak(retryDelay(delivery));
      }
    } catch (err) {
      this.o.log.warn({ fn: this.o.fn, err: (err as Error).message }, 'JetStream trigger message failed');
    } finally {
      clearInterval(working);
    }
  }

  /**
   * Stops taking messages and waits up to `waitMs` for the calls running (a pull still open
   * ends within PULL_EXPIRES_MS; a message it brings is given back). The consumer stays
   * (deleteConsumer removes it).
   */
  async stop(waitMs: number): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.#running),
      new Promise<void>((r) => {
        timer = setTimeout(r, waitMs);
      }),
    ]);
    clearTimeout(timer);
  }
}
