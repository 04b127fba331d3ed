import { Events, type Msg, type MsgHdrs, type NatsConnection } from 'nats';
import type { ReplyStore, SentReply } from './replies.js';

/**
 * Answers sent this long before the connection dropped are re-sent on the reconnect: they may
 * have been in the lost node's buffers (or this socket's) when it died.
 */
export const REPLAY_BEFORE_DISCONNECT_MS = 2000;

export interface ReplayerOptions {
  nc: NatsConnection;
  /** subjects(prefix).replay: gateways' requests for answers they may have lost. */
  subject: string;
  store: ReplyStore;
}

const text = new TextDecoder();

/**
 * Re-sends stored answers that a NATS node's loss may have swallowed: on this worker's own
 * reconnect (those sent shortly before the disconnect), and when a gateway that reconnected asks
 * for its unanswered calls' inboxes. It only re-publishes what was sent: a call never runs again,
 * and a gateway ignores an answer to a call it already settled.
 */
export class Replayer {
  private disconnectedAt: number | undefined;
  private stopped = false;

  constructor(private readonly o: ReplayerOptions) {}

  /** The subscription (for the service to close with its others); watches the connection's status. */
  start() {
    void this.watch();
    return this.o.nc.subscribe(this.o.subject, { callback: (_e, msg) => this.onRequest(msg) });
  }

  stop(): void {
    this.stopped = true;
  }

  /** A gateway's inboxes, one per line: the answers held for them go out again. */
  onRequest(msg: Msg): void {
    const sent: SentReply[] = [];
    for (const reply of text.decode(msg.data).split('\n')) {
      const r = reply ? this.o.store.get(reply) : undefined;
      if (r) sent.push(r);
    }
    this.publish(sent);
  }

  private async watch(): Promise<void> {
    for await (const s of this.o.nc.status()) {
      if (this.stopped) return;
      if (s.type === Events.Disconnect) this.disconnectedAt ??= Date.now();
      else if (s.type === Events.Reconnect) {
        const from = (this.disconnectedAt ?? Date.now()) - REPLAY_BEFORE_DISCONNECT_MS;
        this.disconnectedAt = undefined;
        this.publish(this.o.store.since(from));
      }
    }
  }

  private publish(replies: SentReply[]): void {
    for (const r of replies) {
      try {
        // nats.js's publish reads its headers through encode() alone (HeaderBlock's doc).
        this.o.nc.publish(r.subject, r.data, { headers: r.headers as unknown as MsgHdrs });
      } catch {
        return; // closed: nothing more can be sent
      }
    }
  }
}
