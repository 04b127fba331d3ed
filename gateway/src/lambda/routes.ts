import type { Logger, Subjects } from '@thaw/shared';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { NatsConnection } from 'nats';
import type { AsyncCalls } from '../async/calls.js';
import type { Invoke } from '../calls/types.js';
import type { ClusterView } from '../cluster/view.js';
import { rawBodies } from '../http/invocation.js';
import type { Placer } from '../placement/placer.js';
import type { Stores } from '../store/index.js';
import { accessKeyRoutes } from './access-keys.js';
import { lambdaErrorHandling } from './errors.js';
import { lambdaFunctionRoutes } from './functions.js';
import { lambdaInvokeRoutes } from './invoke.js';
import { AccessKeys } from './keys.js';
import { readCredential, SignatureError, type SignedRequest, verifySignature } from './sigv4.js';

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
  /**
   * Encrypts access keys' secrets in Redis (AES-256-GCM under its SHA-256). Unset: they are
   * stored as issued (docs/coming-from-lambda.md says what that means).
   */
  keysMasterKey?: string;
}

/** How long a key's secret is reused without reading Redis: a revoked key stops working within it. */
export const SECRET_CACHE_MS = 5000;

/**
 * The AWS Lambda API, so `@aws-sdk/client-lambda` works against thaw with an endpoint override
 * (docs/coming-from-lambda.md). Every request is SigV4-signed with an access key pair thaw
 * issued (`/v1/access-keys`, admin token): there is no unauthenticated call.
 */
export async function lambdaRoutes(app: FastifyInstance, d: LambdaDeps): Promise<void> {
  const keys = new AccessKeys({
    redis: d.redis,
    prefix: d.prefix,
    ...(d.keysMasterKey ? { masterKey: d.keysMasterKey } : {}),
  });
  // thaw's own error shape for the admin routes (the app's error handler). Bodies as bytes in
  // both scopes, whichever scope app.ts registers this in: SigV4 hashes the bytes as sent.
  await app.register(async (admin) => {
    rawBodies(admin, d.maxBodyBytes);
    accessKeyRoutes(admin, keys);
  });

  const secrets = new Map<string, { secret: string; until: number }>();
  const secretOf = async (id: string): Promise<string | undefined> => {
    const hit = secrets.get(id);
    if (hit && hit.until > Date.now()) return hit.secret;
    const secret = await keys.secretOf(id);
    if (secret === undefined) secrets.delete(id);
    else secrets.set(id, { secret, until: Date.now() + SECRET_CACHE_MS });
    return secret;
  };
  const regions = new WeakMap<FastifyRequest, string>();
  const regionOf = (req: FastifyRequest) => regions.get(req) ?? 'us-east-1';

  await app.register(async (lambda) => {
    rawBodies(lambda, d.maxBodyBytes);
    lambdaErrorHandling(lambda);
    // After the body is read: the signature covers its hash.
    lambda.addHook('preHandler', async (req) => {
      const signed: SignedRequest = {
        method: req.method,
        url: req.raw.url ?? req.url,
        headers: req.headers,
        body: (req.body as Buffer | undefined) ?? Buffer.alloc(0),
      };
      const cred = readCredential(signed);
      const secretAccessKey = await secretOf(cred.accessKeyId);
      if (secretAccessKey === undefined) {
        throw new SignatureError('unknown-key', 'The security token included in the request is invalid.');
      }
      verifySignature(signed, cred, { secretAccessKey, service: 'lambda' });
      regions.set(req, cred.region);
    });
    lambdaInvokeRoutes(lambda, d);
    lambdaFunctionRoutes(lambda, d, regionOf);
  });
}
