import type { Logger, Subjects } from '@thaw/shared';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { NatsConnection } from 'nats';
import type { AsyncCalls } from '../async/calls.js';
import type { Invoke } from '../calls/types.js';
import type { ClusterView } from '../cluster/view.js';
import type { Placer } from '../placement/placer.js';
import type { Stores } from '../store/index.js';

/** What the AWS Lambda API (/2015-03-31/...) works with: the same parts as thaw's own API. */
export interface LambdaDeps {
  nc: NatsConnection;
  subjects: Subjects;
  redis: Redis;
  prefix: string;
  functions: Stores['functions'];
  images: Stores['images'];
  placer: Placer;
  view: ClusterView;
  asyncCalls: AsyncCalls;
  invoke: Invoke;
  maxBodyBytes: number;
  log: Logger;
}

/**
 * The AWS Lambda API, so `@aws-sdk/client-lambda` works against thaw with an endpoint override
 * (docs/lambda.md). Requests are SigV4-signed with an access key pair thaw issued.
 */
export async function lambdaRoutes(_app: FastifyInstance, _deps: LambdaDeps): Promise<void> {
  // The routes come with issue #15's Lambda API; registered here so app.ts does not change again.
}
