import {
  decodeInvokeReply,
  decodeWorkerMarks,
  encodeInvokeRequest,
  type FunctionRecord,
  failureError,
  HeaderBlock,
  type HeaderMap,
  isCold,
  isSaturated,
  type Subjects,
  ThawError,
  traceNow,
} from '@thaw/shared';
import type { Placer } from '../placement/placer.js';
import { functionNotFound } from '../store/errors.js';
import type { Caller } from './caller.js';
import { type CallReply, NoRespondersError } from './pending.js';
import type { Answer, Envelope } from './types.js';

/** Extra time past the function's timeout for the worker's own answer to arrive. */
export const REPLY_GRACE_MS = 2000;
const THAW_ERROR_HEADER = 'x-thaw-error';

export interface InvokerOptions {
  caller: Caller;
  placer: Pick<Placer, 'placeCurrent' | 'relieve' | 'spread'>;
  subjects: Subjects;
}

/**
 * One call of a function, on a direct link to a worker or over NATS (the Caller chooses): placed on a worker first when none holds it, spread to
 * another worker when the ones holding it are full (the Placer decides where). Platform
 * failures throw a ThawError; the function's own answers (any status) are returned.
 */
export class Invoker {
  private readonly o: InvokerOptions;

  constructor(o: InvokerOptions) {
    this.o = o;
  }

  readonly invoke = async (fn: FunctionRecord, env: Envelope): Promise<Answer> => {
    if (fn.status === 'pulling') {
      throw new ThawError('FUNCTION_NOT_READY', `function "${fn.name}" is still pulling ${fn.image}`);
    }
    if (fn.status === 'failed')
      throw new ThawError('IMAGE_PULL_FAILED', fn.reason ?? `pulling ${fn.image} failed`);
    const block = new HeaderBlock();
    const body = encodeInvokeRequest(env, block);

    const { trace } = env;
    if (trace) trace.published = traceNow();
    let msg = await this.send(fn, body, block);
    if (isSaturated(msg.headers)) this.o.placer.spread(fn);
    let reply = decodeInvokeReply(msg.headers, msg.data);
    if (!reply.ok && reply.code === 'OVERLOADED' && (await this.o.placer.relieve(fn))) {
      if (trace) trace.published = traceNow();
      // Over NATS: the worker just placed subscribed when it took the function on, but the
      // heartbeat that lists it may not have come yet, and a link would go back to a full one.
      msg = await this.send(fn, body, block, false);
      reply = decodeInvokeReply(msg.headers, msg.data);
    }
    if (trace) {
      trace.replyReceived = traceNow();
      decodeWorkerMarks(msg.headers, trace);
    }
    if (!reply.ok) throw failureError(reply);
    // The worker sends end-to-end headers only.
    const answer: Answer = {
      status: reply.status,
      headers: functionHeaders(reply.headers),
      body: reply.body,
    };
    if (isCold(msg.headers)) answer.cold = true;
    return answer;
  };

  /** `direct` false: over NATS only, never on a link. */
  private async send(
    cached: FunctionRecord,
    body: Uint8Array,
    h: HeaderBlock,
    direct = true,
  ): Promise<CallReply> {
    let fn = cached;
    const timeoutMs = fn.timeoutMs + REPLY_GRACE_MS;
    const subject = this.o.subjects.invoke(fn.name);
    try {
      return await this.o.caller.call(subject, body, h, timeoutMs, direct ? fn.name : undefined);
    } catch (err) {
      if (!(err instanceof NoRespondersError)) throw named(err, fn);
    }
    // No worker holds the function: have one take it on (as stored now), then send the same
    // request there.
    const current = await this.o.placer.placeCurrent(fn.name);
    if (!current) throw functionNotFound(fn.name);
    fn = current;
    try {
      return await this.o.caller.call(subject, body, h, timeoutMs, fn.name);
    } catch (err) {
      if (err instanceof NoRespondersError)
        throw new ThawError('NO_WORKER', `no worker serves "${fn.name}" right now`);
      throw named(err, fn);
    }
  }
}

/**
 * The function's own response headers, less `x-thaw-error`: that header tells thaw's errors
 * from a function's answers, and the metrics and the async retries read it. A function that
 * sent it could pass its answer off as a platform failure. Both the sync and the async paths
 * get their answers here, so this is the one place it is dropped.
 */
function functionHeaders(headers: HeaderMap): HeaderMap {
  for (const name of Object.keys(headers)) {
    if (name.toLowerCase() === THAW_ERROR_HEADER) delete headers[name];
  }
  return headers;
}

/** The caller's errors, with the function named. */
function named(err: unknown, fn: FunctionRecord): unknown {
  if (err instanceof ThawError && err.code === 'FUNCTION_TIMEOUT') {
    return new ThawError(
      'FUNCTION_TIMEOUT',
      `function "${fn.name}" did not answer within ${fn.timeoutMs} ms`,
    );
  }
  if (err instanceof ThawError) return new ThawError(err.code, `function "${fn.name}": ${err.message}`);
  return err;
}
