import { acceptedBy, SendBatch, ThawError } from '@thaw/shared';
import { createInbox, Events, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from 'nats';
import type { Liveness } from '../cluster/view.js';

/** No worker subscribes to the subject: the function is held nowhere. */
export class NoRespondersError extends Error {
  override readonly name = 'NoRespondersError';
}

interface Pending {
  resolve: (msg: Msg) => void;
  reject: (err: Error) => void;
  subject: string;
  body: Uint8Array;
  headers: MsgHdrs;
  reply: string;
  attempts: number;
  worker?: string;
  acceptedAt: number;
  /** When the last send went out (Date.now()): not taken by ackTimeoutMs after it, it is sent again. */
  sentAt: number;
  /** Date.now() past which the call fails with FUNCTION_TIMEOUT. */
  deadlineAt: number;
  timeoutMs: number;
}

export interface CallerSettings {
  /** A call no worker has taken by then is sent again (it cannot have run anywhere). */
  ackTimeoutMs: number;
  /** Sends of one call before it fails with NO_WORKER. */
  maxAttempts: number;
  /**
   * How often calls are checked: taken ones against their worker's heartbeats, the others
   * against ackTimeoutMs, all against their deadline. One sweep rather than timers per call:
   * two timers set and cleared per call cost more than the sweep on the hot path, and a late
   * sweep (this process stalled) resends nothing whose acceptance may be waiting unread.
   */
  checkEveryMs: number;
}

export const CALLER_DEFAULTS: CallerSettings = { ackTimeoutMs: 1000, maxAttempts: 3, checkEveryMs: 250 };

export interface CallerOptions {
  nc: NatsConnection;
  /** Whether the worker that took a call still sends heartbeats (ClusterView). */
  liveness: Liveness;
  settings?: Partial<CallerSettings>;
  /**
   * subjects(prefix).replay. Without it, each call's is derived from its subject
   * (`<prefix>.invoke.<fn>` → `<prefix>.invoke-replay`).
   */
  replaySubject?: string;
}

/** Inboxes per replay request: well under NATS's max_payload (~40 bytes each). */
const REPLAY_BATCH = 10_000;

function replayFor(subject: string): string {
  const at = subject.lastIndexOf('.invoke.');
  return `${at < 0 ? 'thaw' : subject.slice(0, at)}.invoke-replay`;
}

/**
 * Request-reply over NATS with an acceptance step. The worker answers every call twice: an
 * empty "accepted" message the moment it takes the call, then the result. A call not taken
 * within `ackTimeoutMs` is sent again (another worker in the queue group may take it); a call
 * taken by a worker whose heartbeats stop fails with WORKER_LOST within about three heartbeat
 * intervals, not after the function's timeout.
 */
export class Caller {
  private readonly prefix = createInbox();
  private readonly calls = new Map<string, Pending>();
  private readonly sub: Subscription;
  private readonly checker: NodeJS.Timeout;
  private readonly opts: CallerSettings;
  private readonly nc: NatsConnection;
  private readonly liveness: Liveness;
  private readonly replaySubject: string | undefined;
  /** Calls published together at the end of the poll phase: one socket write for many calls. */
  private readonly batch = new SendBatch();
  private seq = 0;
  private closed = false;
  private lastCheck = Date.now();

  constructor(o: CallerOptions) {
    this.nc = o.nc;
    this.liveness = o.liveness;
    this.replaySubject = o.replaySubject;
    this.opts = { ...CALLER_DEFAULTS, ...o.settings };
    this.sub = this.nc.subscribe(`${this.prefix}.*`, { callback: (_err, msg) => this.onMessage(msg) });
    this.checker = setInterval(() => this.checkWorkers(), this.opts.checkEveryMs);
    this.checker.unref();
    void this.watchConnection();
  }

  /**
   * What went through the lost node (or this socket) when the connection dropped is gone: a call,
   * its acceptance, its answer. On every reconnect the calls not taken that were sent before the
   * drop go out again at once rather than after ackTimeoutMs (those sent since wait in nats.js's
   * buffer and go out now), and the workers are asked to send again the answers of the calls
   * still pending. A worker re-sends only what it sent; it never runs a call again.
   */
  private async watchConnection(): Promise<void> {
    let droppedAt: number | undefined;
    for await (const s of this.nc.status()) {
      if (this.closed) return;
      if (s.type === Events.Disconnect) droppedAt ??= Date.now();
      else if (s.type === Events.Reconnect) {
        this.resendUntaken(droppedAt ?? Date.now());
        droppedAt = undefined;
        this.askReplay();
      }
    }
  }

  /** Sends again the calls not taken that were sent before `droppedAt` (resend only before acceptance). */
  private resendUntaken(droppedAt: number): void {
    for (const p of this.calls.values()) {
      if (!p.worker && p.sentAt <= droppedAt && p.attempts < this.opts.maxAttempts) this.send(p);
    }
  }

  /** Publishes the pending calls' inboxes, grouped by replay subject, in bounded messages. */
  askReplay(): void {
    const bySubject = new Map<string, string[]>();
    for (const p of this.calls.values()) {
      const subject = this.replaySubject ?? replayFor(p.subject);
      const inboxes = bySubject.get(subject);
      if (inboxes) inboxes.push(p.reply);
      else bySubject.set(subject, [p.reply]);
    }
    for (const [subject, inboxes] of bySubject) {
      for (let i = 0; i < inboxes.length; i += REPLAY_BATCH) {
        try {
          this.nc.publish(subject, inboxes.slice(i, i + REPLAY_BATCH).join('\n'));
        } catch {
          return; // closed: the calls fail as the connection's owner shuts down
        }
      }
    }
  }

  call(subject: string, body: Uint8Array, headers: MsgHdrs, timeoutMs: number): Promise<Msg> {
    const reply = `${this.prefix}.${++this.seq}`;
    return new Promise<Msg>((resolve, reject) => {
      const p: Pending = {
        resolve,
        reject,
        subject,
        body,
        headers,
        reply,
        attempts: 0,
        acceptedAt: 0,
        sentAt: 0,
        deadlineAt: Date.now() + timeoutMs,
        timeoutMs,
      };
      this.calls.set(reply, p);
      this.send(p);
    });
  }

  private send(p: Pending): void {
    p.attempts++;
    p.sentAt = Date.now();
    this.batch.add(() => {
      if (!this.calls.has(p.reply)) return; // settled meanwhile (the gateway is closing)
      try {
        this.nc.publish(p.subject, p.body, { reply: p.reply, headers: p.headers });
      } catch (err) {
        // A closed connection: published from the batch, the error is this call's, not the loop's.
        this.fail(p, err as Error);
      }
    });
  }

  /** A call no worker has taken within ackTimeoutMs: sent again, or failed after the last try. */
  private untaken(p: Pending): void {
    if (p.attempts >= this.opts.maxAttempts) {
      this.fail(
        p,
        new ThawError(
          'NO_WORKER',
          `no worker took the call in ${p.attempts} tries of ${this.opts.ackTimeoutMs} ms each`,
        ),
      );
    } else {
      this.send(p);
    }
  }

  private onMessage(msg: Msg): void {
    const p = this.calls.get(msg.subject);
    if (!p) return; // an answer to a call already settled (a resend answered twice)
    const h = msg.headers;
    if (h?.hasError && h.code === 503) {
      // The server's "no responders": nobody subscribes to the subject.
      if (!p.worker) this.fail(p, new NoRespondersError(`no subscriber for ${p.subject}`));
      return;
    }
    const taker = acceptedBy(h);
    if (taker) {
      p.worker ??= taker;
      p.acceptedAt = Date.now();
      return;
    }
    this.settle(p);
    p.resolve(msg);
  }

  private checkWorkers(): void {
    const now = Date.now();
    // Late by far: this process stalled, and heartbeats may be waiting unread on the socket.
    // Judge workers on the next round, once they have been read.
    const late = now - this.lastCheck > 2 * this.opts.checkEveryMs;
    this.lastCheck = now;
    if (late) return;
    for (const p of this.calls.values()) {
      if (now >= p.deadlineAt) {
        this.fail(p, new ThawError('FUNCTION_TIMEOUT', `no answer within ${p.timeoutMs} ms`));
        continue;
      }
      if (!p.worker) {
        if (now - p.sentAt >= this.opts.ackTimeoutMs) this.untaken(p);
        continue;
      }
      const alive = this.liveness.alive(p.worker);
      const lost =
        alive === false || (alive === undefined && now - p.acceptedAt > this.liveness.graceMs(p.worker));
      if (lost) {
        this.fail(
          p,
          new ThawError(
            'WORKER_LOST',
            `worker ${p.worker} stopped sending heartbeats while it served the call; it may have run in part`,
          ),
        );
      }
    }
  }

  private settle(p: Pending): void {
    this.calls.delete(p.reply);
  }

  private fail(p: Pending, err: Error): void {
    if (!this.calls.has(p.reply)) return;
    this.settle(p);
    p.reject(err);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.checker);
    this.sub.unsubscribe();
    for (const p of [...this.calls.values()])
      this.fail(p, new ThawError('NO_WORKER', 'the gateway is shutting down'));
  }
}
