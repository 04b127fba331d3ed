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
  type WireHeadersIn,
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

/** One call as the handler sees it, whatever carried it: NATS or a gateway's direct link. */
export interface IncomingCall {
  /**
   * The gateway's inbox for the answer, the call's identity on both transports (resends, the
   * reply store, replays); "" for a message sent with no reply subject.
   */
  readonly id: string;
  readonly headers: WireHeadersIn | undefined;
  readonly data: Uint8Array;
  /** Tells the gateway the call is taken: sent at once, before it runs. */
  accept(): void;
  /** Sends an answer; one that cannot be sent is dropped (the gateway replays or fails it). */
  respond(data: Uint8Array, headers: HeaderBlock): void;
}

const EMPTY = new Uint8Array(0);

/** The worker's side of an invocation: accept, run once, reply. */
export class InvokeHandler {
  private readonly accepted: MsgHdrs = natsHeaders();
  private readonly resends = new ResendFilter();
  /** Replies sent together at the end of the poll phase: one socket write for many. */
  private readonly replies = new SendBatch();
  readonly store: ReplyStore;

  constructor({ workerId, store }: InvokeHandlerOptions) {
    encodeAccepted(workerId, this.accepted);
    this.store = store ?? new ReplyStore();
  }

  /** Serves a call that came over NATS (see serve). */
  handle(msg: Msg, host: () => FunctionHost | undefined): Promise<void> {
    const accepted = this.accepted;
    return this.serve(
      {
        id: msg.reply ?? '',
        headers: msg.headers,
        data: msg.data,
        accept: () => msg.respond(EMPTY, { headers: accepted }),
        respond: (data, headers) => {
          try {
            // nats.js's publish reads its headers through encode() alone (HeaderBlock's doc).
            msg.respond(data, { headers: headers as unknown as MsgHdrs });
          } catch {
            // The connection closed: the gateway fails the call when this worker's heartbeats stop.
          }
        },
      },
      host,
    );
  }

  /** Serves `call` from the pool `host()` answers at that moment (a roll switches it). */
  async serve(call: IncomingCall, host: () => FunctionHost | undefined): Promise<void> {
    // A traced call (the gateway's THAW_TIMINGS): the clock is read only for those.
    const trace: CallTrace | undefined = timingAsked(call.headers)
      ? { workerReceived: traceNow() }
      : undefined;
    if (call.id) {
      // Taken: from now on the gateway ties the call to this worker's heartbeats. Sent at once,
      // before the call runs; the replies waiting in the batch share its write.
      this.replies.flush();
      call.accept();
      if (!this.resends.firstTime(call.id)) {
        // A copy of a call already taken: its answer, if sent already, may be the one lost.
        const sent = this.store.get(call.id);
        if (sent) this.replies.add(() => call.respond(sent.data, sent.headers));
        return;
      }
    }
    const req = decodeInvokeRequest(call.headers, call.data);
    if (!req) {
      this.reply(call, { ok: false, code: 'VALIDATION_FAILED', message: 'malformed invocation envelope' });
      return;
    }
    const pool = host();
    if (!pool) return; // not subscribed before a pool exists
    if (trace) req.trace = trace;
    const result = await pool.invoke(req);
    this.reply(call, result, pool.saturated, trace, req.cold);
  }

  private reply(
    call: IncomingCall,
    reply: InvokeReply,
    saturated = false,
    trace?: CallTrace,
    cold?: boolean,
  ): void {
    // Written straight into the wire form (HeaderBlock): nats.js's headers() object cost, per
    // reply, its key lists, name canonicalisation, regex and Map, rendered again on publish.
    const block = new HeaderBlock();
    const data = encodeInvokeReply(reply, block, { saturated, cold });
    this.replies.add(() => {
      if (trace) {
        trace.replySent = traceNow();
        encodeWorkerMarks(trace, block);
      }
      call.respond(data, block);
      if (call.id) this.store.add(call.id, data, block);
    });
  }
}
