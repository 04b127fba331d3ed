import {
  type CallTrace,
  decodeInvokeRequest,
  encodeAccepted,
  encodeInvokeReply,
  encodeWorkerMarks,
  HeaderBlock,
  type InvokeReply,
  SendBatch,
  timingAsked,
  traceNow,
} from '@thaw/shared';
import { type Msg, type MsgHdrs, headers as natsHeaders } from 'nats';
import type { FunctionHost } from '../pool/function-host.js';
import { ReplyStore } from './replies.js';
import { ResendFilter } from './resends.js';

export interface InvokeHandlerOptions {
  workerId: string;
  /** The answers sent lately, for a gateway that may have lost one (Replayer). */
  store?: ReplyStore;
}

const EMPTY = new Uint8Array(0);

/** The worker's side of an invocation over NATS: accept, run once, reply. */
export class InvokeHandler {
  private readonly accepted: MsgHdrs = natsHeaders();
  private readonly resends = new ResendFilter();
  /** Replies published together at the end of the poll phase: one socket write for many. */
  private readonly replies = new SendBatch();
  readonly store: ReplyStore;

  constructor({ workerId, store }: InvokeHandlerOptions) {
    encodeAccepted(workerId, this.accepted);
    this.store = store ?? new ReplyStore();
  }

  /** Serves `msg` from the pool `host()` answers at that moment (a roll switches it). */
  async handle(msg: Msg, host: () => FunctionHost | undefined): Promise<void> {
    // A traced call (the gateway's THAW_TIMINGS): the clock is read only for those.
    const trace: CallTrace | undefined = timingAsked(msg.headers)
      ? { workerReceived: traceNow() }
      : undefined;
    if (msg.reply) {
      // Taken: from now on the gateway ties the call to this worker's heartbeats. Sent at once,
      // before the call runs; the replies waiting in the batch share its write.
      this.replies.flush();
      msg.respond(EMPTY, { headers: this.accepted });
      if (!this.resends.firstTime(msg.reply)) {
        // A copy of a call already taken: its answer, if sent already, may be the one lost.
        const sent = this.store.get(msg.reply);
        if (sent) this.replies.add(() => this.respond(msg, sent.data, sent.headers));
        return;
      }
    }
    const req = decodeInvokeRequest(msg.headers, msg.data);
    if (!req) {
      this.reply(msg, { ok: false, code: 'VALIDATION_FAILED', message: 'malformed invocation envelope' });
      return;
    }
    const pool = host();
    if (!pool) return; // not subscribed before a pool exists
    if (trace) req.trace = trace;
    const result = await pool.invoke(req);
    this.reply(msg, result, pool.saturated, trace, req.cold);
  }

  private reply(msg: Msg, reply: InvokeReply, saturated = false, trace?: CallTrace, cold?: boolean): void {
    // Written straight into the wire form (HeaderBlock): nats.js's headers() object cost, per
    // reply, its key lists, name canonicalisation, regex and Map, rendered again on publish.
    const block = new HeaderBlock();
    const data = encodeInvokeReply(reply, block, { saturated, cold });
    // nats.js's publish reads its headers through encode() alone (HeaderBlock's doc).
    const h = block as unknown as MsgHdrs;
    this.replies.add(() => {
      if (trace) {
        trace.replySent = traceNow();
        encodeWorkerMarks(trace, block);
      }
      this.respond(msg, data, h);
      if (msg.reply) this.store.add(msg.reply, data, h);
    });
  }

  private respond(msg: Msg, data: Uint8Array, h: MsgHdrs): void {
    try {
      msg.respond(data, { headers: h });
    } catch {
      // The connection closed: the gateway fails the call when this worker's heartbeats stop.
    }
  }
}
