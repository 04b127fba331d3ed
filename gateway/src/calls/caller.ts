import { acceptedBy, ThawError } from '@thaw/shared';
import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from 'nats';
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
  deadline: NodeJS.Timeout;
  ackTimer?: NodeJS.Timeout;
}

export interface CallerSettings {
  /** A call no worker has taken by then is sent again (it cannot have run anywhere). */
  ackTimeoutMs: number;
  /** Sends of one call before it fails with NO_WORKER. */
  maxAttempts: number;
  /** How often calls taken by a worker are checked against its heartbeats. */
  checkEveryMs: number;
}

export const CALLER_DEFAULTS: CallerSettings = { ackTimeoutMs: 1000, maxAttempts: 3, checkEveryMs: 250 };

export interface CallerOptions {
  nc: NatsConnection;
  /** Whether the worker that took a call still sends heartbeats (ClusterView). */
  liveness: Liveness;
  settings?: Partial<CallerSettings>;
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
  private seq = 0;
  private closed = false;
  private lastCheck = Date.now();

  constructor(o: CallerOptions) {
    this.nc = o.nc;
    this.liveness = o.liveness;
    this.opts = { ...CALLER_DEFAULTS, ...o.settings };
    this.sub = this.nc.subscribe(`${this.prefix}.*`, { callback: (_err, msg) => this.onMessage(msg) });
    this.checker = setInterval(() => this.checkWorkers(), this.opts.checkEveryMs);
    this.checker.unref();
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
        deadline: setTimeout(
          () => this.fail(p, new ThawError('FUNCTION_TIMEOUT', `no answer within ${timeoutMs} ms`)),
          timeoutMs,
        ),
      };
      this.calls.set(reply, p);
      this.send(p);
    });
  }

  private send(p: Pending): void {
    p.attempts++;
    this.nc.publish(p.subject, p.body, { reply: p.reply, headers: p.headers });
    p.ackTimer = setTimeout(() => {
      if (p.worker) return;
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
    }, this.opts.ackTimeoutMs);
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
      clearTimeout(p.ackTimer);
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
      if (!p.worker) continue;
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
    clearTimeout(p.deadline);
    clearTimeout(p.ackTimer);
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
