import { type FunctionRecord, type HeaderMap, ThawError } from '@thaw/shared';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AsyncCalls } from '../async/calls.js';
import type { Answer, Envelope, Invoke } from '../calls/types.js';
import type { FunctionStore } from '../store/functions.js';
import { checkQualifier, nameOf } from './config.js';
import { invalidParameter } from './errors.js';

export interface LambdaInvokeDeps {
  functions: FunctionStore;
  invoke: Invoke;
  asyncCalls: AsyncCalls;
}

/** Headers of a Lambda Invoke request the function gets (the worker's Lambda runtime reads them). */
const FORWARDED = ['x-amz-log-type', 'x-amz-client-context'] as const;
/** Most of an HTTP function's error body kept in the function error's message. */
const MAX_ERROR_TEXT = 1024;

/**
 * Failures of the function itself, which Lambda answers 200 with X-Amz-Function-Error (the
 * API call worked; the function did not): the errorType each gets, as Lambda's runtimes name them.
 */
const FUNCTION_FAILURES: Partial<Record<ThawError['code'], string>> = {
  FUNCTION_TIMEOUT: 'Sandbox.Timedout',
  FUNCTION_CRASHED: 'Runtime.ExitError',
  UPSTREAM_ERROR: 'Runtime.ExitError',
  FUNCTION_ERROR: 'Runtime.Unknown',
  RESPONSE_TOO_LARGE: 'Function.ResponseSizeTooLarge',
};

/** The event as a call: POST "/" with the payload as its body, flagged as a Lambda event. */
function envelopeOf(req: FastifyRequest): Envelope {
  const headers: HeaderMap = { 'content-type': 'application/json' };
  for (const name of FORWARDED) {
    const v = req.headers[name];
    if (typeof v === 'string') headers[name] = v;
  }
  const body = (req.body as Buffer | undefined) ?? Buffer.alloc(0);
  return { method: 'POST', path: '/', query: '', headers, body, lambdaEvent: true };
}

function functionError(reply: FastifyReply, errorType: string, errorMessage: string): FastifyReply {
  return reply
    .code(200)
    .header('x-amz-function-error', 'Unhandled')
    .header('content-type', 'application/json')
    .send({ errorMessage, errorType });
}

/**
 * The function's answer as Lambda's: a Lambda runtime's (the worker flags its errors with
 * X-Amz-Function-Error) passes as it is; an HTTP function's 4xx/5xx is a function error.
 */
function sendAnswer(reply: FastifyReply, fn: FunctionRecord, answer: Answer): FastifyReply {
  const log = answer.headers['x-amz-log-result'];
  if (typeof log === 'string') void reply.header('x-amz-log-result', log);
  const flagged = answer.headers['x-amz-function-error'];
  if (typeof flagged === 'string') {
    return reply
      .code(200)
      .header('x-amz-function-error', flagged)
      .header('content-type', 'application/json')
      .send(answer.body);
  }
  if (answer.status >= 400) {
    const text = answer.body.subarray(0, MAX_ERROR_TEXT).toString('utf8');
    return functionError(
      reply,
      `HTTP.${answer.status}`,
      `function "${fn.name}" answered HTTP ${answer.status}: ${text}`,
    );
  }
  const type = answer.headers['content-type'];
  return reply
    .code(200)
    .header('content-type', typeof type === 'string' ? type : 'application/json')
    .send(answer.body);
}

/** `POST /2015-03-31/functions/:name/invocations`: RequestResponse, Event (async queue) and DryRun. */
export function lambdaInvokeRoutes(app: FastifyInstance, d: LambdaInvokeDeps): void {
  app.post<{ Params: { name: string }; Querystring: { Qualifier?: string } }>(
    '/2015-03-31/functions/:name/invocations',
    async (req, reply) => {
      const { name, qualifier } = nameOf(req.params.name);
      checkQualifier(req.query.Qualifier ?? qualifier, name);
      const type = req.headers['x-amz-invocation-type'] ?? 'RequestResponse';
      if (type !== 'RequestResponse' && type !== 'Event' && type !== 'DryRun') {
        throw invalidParameter(
          `X-Amz-Invocation-Type: must be RequestResponse, Event or DryRun, not "${type}"`,
        );
      }
      const fn = await d.functions.require(name, { fresh: type !== 'RequestResponse' });
      void reply.header('x-amz-executed-version', '$LATEST');
      if (type === 'DryRun') return reply.code(204).send();
      const env = envelopeOf(req);
      if (type === 'Event') {
        const callId = await d.asyncCalls.enqueue(fn, env);
        // Lambda's request id of an Event call; thaw's own API reads it at GET /v1/calls/<id>.
        return reply.code(202).header('x-amzn-requestid', callId).header('x-thaw-call-id', callId).send();
      }
      let answer: Answer;
      try {
        answer = await d.invoke(fn, env);
      } catch (err) {
        const errorType = err instanceof ThawError ? FUNCTION_FAILURES[err.code] : undefined;
        if (!errorType || !(err instanceof ThawError)) throw err;
        return functionError(reply, errorType, err.message);
      }
      return sendAnswer(reply, fn, answer);
    },
  );
}
