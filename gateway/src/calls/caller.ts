import { hostname } from 'node:os';
import { acceptedBy, type HeaderBlock, SendBatch, ThawError } from '@thaw/shared';
import { createInbox, Events, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from 'nats';
import type { Liveness } from '../cluster/view.js';
import type { Link } from './link.js';
import { DirectLinks } from './links.js';
import {
  CALLER_DEFAULTS,
  type CallerOptions,
  type CallerSettings,
  type CallReply,
  type CallSends,
  NoRespondersError,
  type Pending,
  REPLAY_BATCH,
  replayFor,
  workerRestarted,
} from './pending.js';

/**
 * Request-reply with an acceptance step, on a worker's direct link (the first try, when a worker
 * holding the function serves one: links.ts) or over NATS (resends, fallbacks, no link). The
 * worker answers every call twice: an "accepted" message (or frame) the moment it takes the call,
 * then the result. A call not taken
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
  private readonly links: DirectLinks | undefined;
  readonly sends: CallSends = { direct: 0, nats: 0 };
  private seq = 0;
  private closed = false;
  private lastCheck = Date.now();

  constructor(o: CallerOptions) {
    this.nc = o.nc;
    this.liveness = o.liveness;
    this.replaySubject = o.replaySubject;
    this.opts = { ...CALLER_DEFAULTS, ...o.settings };
    this.sub = this.nc.subscribe(`${this.prefix}.*`, { callback: (_err, msg) => this.onMessage(msg) });
    this.links =
      o.direct &&
      new DirectLinks({
        view: o.direct,
        gateway: `${hostname()}-${process.pid}`,
        ...(o.linkSettings && { settings: o.linkSettings }),
        events: {
          accepted: (id, link) => {
            const p = this.calls.get(id);
            if (!p) return;
            if (!p.worker) p.takenOn = link;
            this.taken(p, link.worker);
          },
          reply: (id, headers, data) => {
            const p = this.calls.get(id);
            if (!p) return;
            this.settle(p);
            p.resolve({ headers, data });
          },
          elsewhere: (id) => {
            const p = this.calls.get(id);
            // Not when the call already went over NATS (its link was slower than ackTimeoutMs):
            // a second copy there, untracked, could run on a second worker.
            if (p && !p.worker && p.via) this.sendNats(p);
          },
          closed: (link, ids, why) => this.linkClosed(link, ids, why === 'restarted'),
        },
      });
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
      // A call on a direct link did not go through NATS: it waits for its link or ackTimeoutMs.
      if (!p.worker && !p.via && p.sentAt <= droppedAt && p.attempts < this.opts.maxAttempts) this.send(p);
    }
  }

  /**
   * A link gone with calls on it: those not taken go over NATS now (the worker accepts before it
   * runs, so one ran only if its acceptance was still on the way; a copy that reaches the same
   * worker runs once, as for a NATS resend after ackTimeoutMs); those taken stay tied
   * to the worker's heartbeats, and their answers are asked for on NATS until they come (the
   * worker answers a call whose link closed on NATS, and keeps what it sent), unless the link
   * was closed because its worker restarted: a new process does not have them.
   */
  private linkClosed(link: Link, ids: string[], restarted: boolean): void {
    const orphans: Pending[] = [];
    for (const id of ids) {
      const p = this.calls.get(id);
      if (!p || p.via !== link) continue;
      p.via = undefined;
      if (!p.worker) this.sendNats(p);
      else if (restarted && p.takenOn) this.fail(p, workerRestarted(p.worker));
      else {
        p.orphaned = true;
        orphans.push(p);
      }
    }
    if (orphans.length > 0) this.askReplay(orphans);
  }

  /** Publishes the pending calls' inboxes, grouped by replay subject, in bounded messages. */
  askReplay(calls: Iterable<Pending> = this.calls.values()): void {
    const bySubject = new Map<string, string[]>();
    for (const p of calls) {
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

  /** Sends a call of `fn` (on `subject` over NATS) and resolves to its answer. */
  call(
    subject: string,
    body: Uint8Array,
    headers: HeaderBlock,
    timeoutMs: number,
    fn?: string,
  ): Promise<CallReply> {
    const reply = `${this.prefix}.${++this.seq}`;
    return new Promise<CallReply>((resolve, reject) => {
      const p: Pending = {
        resolve,
        reject,
        subject,
        body,
        headers,
        reply,
        fn,
        via: undefined,
        link: undefined,
        takenOn: undefined,
        orphaned: false,
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

  /**
   * One more try. The first goes on a direct link when a worker that holds the function serves
   * one; a resend goes over NATS, where any worker holding it may take it.
   */
  private send(p: Pending): void {
    p.attempts++;
    const link = p.attempts === 1 && p.fn !== undefined ? this.links?.pick(p.fn) : undefined;
    if (!link) {
      this.sendNats(p);
      return;
    }
    p.sentAt = Date.now();
    p.via = link;
    const fn = p.fn as string;
    this.batch.add(() => {
      if (!this.calls.has(p.reply) || p.via !== link) return; // settled or moved meanwhile
      if (link.send(p.reply, fn, p.headers.encode(), p.body)) {
        p.link = link;
        this.sends.direct++;
      } else this.sendNats(p); // closed since it was picked, or full: nothing was written
    });
  }

  /** Publishes the call on NATS (in this turn's batch); not counted as another try. */
  private sendNats(p: Pending): void {
    p.via = undefined;
    p.sentAt = Date.now();
    this.batch.add(() => {
      if (!this.calls.has(p.reply) || p.via !== undefined) return; // settled meanwhile (the gateway is closing)
      try {
        // nats.js's publish reads its headers through encode() alone (HeaderBlock's doc).
        this.nc.publish(p.subject, p.body, { reply: p.reply, headers: p.headers as unknown as MsgHdrs });
        this.sends.nats++;
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
      this.taken(p, taker);
      return;
    }
    this.settle(p);
    p.resolve(msg);
  }

  private taken(p: Pending, worker: string): void {
    p.worker ??= worker;
    p.acceptedAt = Date.now();
  }

  private checkWorkers(): void {
    const now = Date.now();
    // Late by far: this process stalled, and heartbeats may be waiting unread on the socket.
    // Judge workers on the next round, once they have been read.
    const late = now - this.lastCheck > 2 * this.opts.checkEveryMs;
    this.lastCheck = now;
    if (late) return;
    this.links?.sweep(now);
    const orphans: Pending[] = [];
    for (const p of this.calls.values()) {
      if (now >= p.deadlineAt) {
        this.fail(p, new ThawError('FUNCTION_TIMEOUT', `no answer within ${p.timeoutMs} ms`));
        continue;
      }
      if (!p.worker) {
        if (now - p.sentAt >= this.opts.ackTimeoutMs) this.untaken(p);
        continue;
      }
      if (p.takenOn && this.links?.restarted(p.takenOn)) {
        this.fail(p, workerRestarted(p.worker));
        continue;
      }
      if (p.orphaned) orphans.push(p);
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
    if (orphans.length > 0) this.askReplay(orphans);
  }

  private settle(p: Pending): void {
    this.calls.delete(p.reply);
    // Settled another way (answered over NATS after a resend): the link no longer counts it.
    p.link?.inflight.delete(p.reply);
  }

  /** Calls in flight on this gateway's link to `worker`, as `pick` weighs them. */
  linkLoad(worker: string): number {
    return this.links?.load(worker) ?? 0;
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
    this.links?.close();
    for (const p of [...this.calls.values()])
      this.fail(p, new ThawError('NO_WORKER', 'the gateway is shutting down'));
  }
}
