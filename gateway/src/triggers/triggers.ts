import { createHash } from 'node:crypto';
import type { FunctionRecord, Logger, Trigger } from '@thaw/shared';
import type { NatsConnection } from 'nats';
import type { Invoke } from '../calls/types.js';
import { deleteConsumer, JetStreamTrigger } from './jetstream-trigger.js';
import { NatsTrigger } from './nats-trigger.js';

/** How long a trigger stopped (removed, or the gateway closing) waits for its running calls. */
export const STOP_WAIT_MS = 10_000;

export interface TriggersOptions {
  nc: NatsConnection;
  /** THAW_PREFIX: thaw's own subjects are never a trigger's. */
  prefix: string;
  /** The function as stored now. */
  current: (name: string) => Promise<FunctionRecord | undefined>;
  invoke: Invoke;
  log: Logger;
}

/** One trigger of one function as this gateway runs it. */
interface Running {
  /** What it was started with: a change starts it again. */
  fingerprint: string;
  listener: NatsTrigger | JetStreamTrigger;
  /** The durable consumer of a JetStream trigger. */
  consumer?: { stream: string; name: string };
}

/** A name NATS takes for a consumer or queue group: no ".", "*", ">", spaces or slashes. */
function natsName(...parts: string[]): string {
  return parts.join('_').replace(/[^A-Za-z0-9_-]/g, '_');
}

function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 10);
}

/**
 * Every trigger's identity: a JetStream trigger's durable consumer is named from its stream and
 * filter (a new path or replySubject keeps its place in the stream), a subject trigger's queue
 * group from all of it.
 */
export function triggerName(prefix: string, fn: string, t: Trigger): string {
  const what = t.type === 'jetstream' ? `js\0${t.stream}\0${t.filterSubject ?? ''}` : JSON.stringify(t);
  return natsName(prefix, fn, shortHash(what));
}

/**
 * Calls functions for the messages on their triggers' NATS subjects and JetStream streams, on
 * every gateway (queue groups and one shared consumer make each message one call).
 */
export class Triggers {
  readonly #running = new Map<string, Running>();
  /** One sync at a time: the periodic one and a change's may overlap. */
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(readonly o: TriggersOptions) {}

  /** Listens for the triggers of `functions` (and stops listening for the others'). */
  sync(functions: FunctionRecord[]): Promise<void> {
    const next = this.#queue.then(() => this.#sync(functions));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #sync(functions: FunctionRecord[]): Promise<void> {
    if (this.#closed) return;
    const wanted = new Map<string, { fn: FunctionRecord; t: Trigger }>();
    for (const fn of functions) {
      for (const t of fn.triggers ?? []) wanted.set(triggerName(this.o.prefix, fn.name, t), { fn, t });
    }
    const fingerprint = (fn: FunctionRecord, t: Trigger) =>
      JSON.stringify([t, fn.timeoutMs, fn.asyncConcurrency]);
    const stops: Promise<void>[] = [];
    for (const [name, r] of this.#running) {
      const w = wanted.get(name);
      if (w && fingerprint(w.fn, w.t) === r.fingerprint) continue;
      this.#running.delete(name);
      stops.push(
        r.listener.stop(STOP_WAIT_MS).then(async () => {
          // Removed (not changed): its place in the stream goes with it.
          if (!w && r.consumer) await deleteConsumer(this.o.nc, r.consumer.stream, r.consumer.name);
        }),
      );
    }
    await Promise.all(
      stops.map((p) =>
        p.catch((err: Error) => this.o.log.warn({ err: err.message }, 'stopping a trigger failed')),
      ),
    );
    for (const [name, { fn, t }] of wanted) {
      if (this.#running.has(name)) continue;
      this.#running.set(name, this.#start(name, fn, t, fingerprint(fn, t)));
    }
  }

  #start(name: string, fn: FunctionRecord, t: Trigger, fingerprint: string): Running {
    const common = {
      nc: this.o.nc,
      current: this.o.current,
      invoke: this.o.invoke,
      log: this.o.log,
      fn: fn.name,
      path: t.path,
      replySubject: t.replySubject,
      concurrency: fn.asyncConcurrency,
      prefix: this.o.prefix,
    };
    if (t.type === 'nats') {
      return { fingerprint, listener: new NatsTrigger({ ...common, subject: t.subject, queue: name }) };
    }
    const listener = new JetStreamTrigger({
      ...common,
      stream: t.stream,
      filterSubject: t.filterSubject,
      maxDeliver: t.maxDeliver,
      consumer: name,
      timeoutMs: fn.timeoutMs,
    });
    return { fingerprint, listener, consumer: { stream: t.stream, name } };
  }

  /** Stops every trigger on this gateway; durable consumers stay for the other gateways. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
    const all = [...this.#running.values()];
    this.#running.clear();
    await Promise.all(all.map((r) => r.listener.stop(STOP_WAIT_MS)));
  }
}
