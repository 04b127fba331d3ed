import type { Logger } from '@thaw/shared';
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerMessages,
  DeliverPolicy,
  type JsMsg,
  type NatsConnection,
  nanos,
} from 'nats';
import { type CallDeps, callFunction, publishResult } from './call.js';
import { envelopeOf, retryDelay, settled } from './mapping.js';
import { Slots } from './slots.js';

/** While a trigger's stream (or JetStream) is missing, it is looked for again this often. */
export const STREAM_RETRY_MS = 10_000;
/** Beyond two function timeouts (one waiting for a slot, one running), this long before a message not acked comes again. */
export const ACK_WAIT_EXTRA_MS = 30_000;

/** How long a message may stay unacknowledged: a fetched message waits for a slot, then runs. */
export function ackWaitMs(timeoutMs: number): number {
  return 2 * timeoutMs + ACK_WAIT_EXTRA_MS;
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
  /** Calls at once on this gateway (and messages fetched ahead). */
  concurrency: number;
  timeoutMs: number;
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
  readonly #slots: Slots;
  readonly #loop: Promise<void>;
  #stopped = false;
  #messages: ConsumerMessages | undefined;
  #wake: (() => void) | undefined;

  constructor(readonly o: JetStreamTriggerOptions) {
    this.#slots = new Slots(o.concurrency);
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        await ensureConsumer(this.o);
        const consumer = await this.o.nc.jetstream().consumers.get(this.o.stream, this.o.consumer);
        const messages = await consumer.consume({
          max_messages: this.o.concurrency,
          // A deleted stream or consumer ends the loop: it is made again, or waited for.
          abort_on_missing_resource: true,
        });
        this.#messages = messages;
        if (this.#stopped) messages.stop();
        for await (const m of messages) {
          await this.#slots.acquire();
          if (this.#stopped) {
            // Not started: another gateway may take it at once.
            m.nak();
            this.#slots.release();
            break;
          }
          void this.#handle(m);
        }
      } catch (err) {
        this.o.log.warn(
          { fn: this.o.fn, stream: this.o.stream, err: (err as Error).message },
          `JetStream trigger cannot read stream "${this.o.stream}"; trying again in ${STREAM_RETRY_MS / 1000} s (create the stream: docs/triggers.md)`,
        );
      }
      if (!this.#stopped) await this.#sleep(STREAM_RETRY_MS);
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
    const delivery = m.info.deliveryCount;
    // A fetched message may have waited for its slot: its ack wait starts again now.
    m.working();
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
        publishResult(this.o.nc, [this.o.replySubject], this.o.fn, m.subject, outcome);
        m.ack();
      } else if (delivery >= this.o.maxDeliver) {
        publishResult(this.o.nc, [this.o.replySubject], this.o.fn, m.subject, outcome);
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
      this.#slots.release();
    }
  }

  /**
   * Stops fetching and waits up to `waitMs` for the calls running. Messages fetched and not
   * started come again after their ack wait; the consumer stays (deleteConsumer removes it).
   */
  async stop(waitMs: number): Promise<void> {
    this.#stopped = true;
    this.#messages?.stop();
    this.#wake?.();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([this.#loop, this.#slots.idle()]),
      new Promise<void>((r) => {
        timer = setTimeout(r, waitMs);
      }),
    ]);
    clearTimeout(timer);
  }
}
