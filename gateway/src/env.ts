import { NatsEnv, parseEnv } from '@thaw/shared';
import { z } from 'zod';
import { parseSentinels, SentinelListError } from './redis.js';

const Env = z
  .object({
    /** Port of the HTTP API. */
    PORT: z.coerce.number().int().min(0).max(65535).default(8080),
    /** Address to listen on; 0.0.0.0 for every interface. */
    HOST: z.string().default('0.0.0.0'),
    /** One Redis server. Ignored when REDIS_SENTINELS is set. */
    REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
    /**
     * Redis behind Sentinel: a comma-separated list of sentinels (host:port). The client asks them
     * for the primary of REDIS_MASTER_NAME and follows it through failovers.
     */
    REDIS_SENTINELS: z
      .string()
      .min(1)
      .optional()
      .superRefine((v, ctx) => {
        if (v === undefined) return;
        try {
          parseSentinels(v);
        } catch (err) {
          if (!(err instanceof SentinelListError)) throw err;
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: err.message });
        }
      }),
    REDIS_MASTER_NAME: z.string().min(1).default('thaw'),
    /** Password of the Redis servers (requirepass / masterauth), with sentinels as well. */
    REDIS_PASSWORD: z.string().min(1).optional(),
    /** Password of the sentinels themselves, when they require one. */
    REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
    /** Prefix of NATS subjects and Redis keys, so installations can share servers. */
    THAW_PREFIX: z
      .string()
      .regex(/^[a-zA-Z0-9_-]+$/)
      .default('thaw'),
    /**
     * Copies JetStream keeps of what the gateway stores in NATS (the uploaded images' object
     * store): 1 on a single server, 3 on a 3-node cluster so the loss of a node loses no image.
     */
    THAW_JS_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
    /** Largest invocation body (and response) carried over NATS. */
    MAX_BODY_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .max(7 * 1024 * 1024)
      .default(6 * 1024 * 1024),
    /** Largest image archive accepted by POST /v1/images. */
    MAX_IMAGE_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .default(2 * 1024 ** 3),
    /** How long a worker may take to import an image or start a function's first instance. */
    PLACE_TIMEOUT_MS: z.coerce.number().int().min(1000).default(120_000),
    /**
     * Lock of a running async call: renewed while its gateway lives; a call whose gateway died
     * is taken over by another gateway once it expires.
     */
    ASYNC_LOCK_MS: z.coerce.number().int().min(1000).max(600_000).default(30_000),
    /**
     * The admin token for /v1/*. Unset: one is made on the first start (stored hashed in Redis,
     * printed once, and written to THAW_TOKEN_FILE when set).
     */
    THAW_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    THAW_TOKEN_FILE: z.string().optional(),
    /**
     * Key that encrypts the secrets of the Lambda API's access keys in Redis (SigV4 needs the
     * secret itself, so it cannot be stored hashed). The same on every gateway, kept out of Redis.
     * Unset: secrets are stored as issued (docs/coming-from-lambda.md).
     */
    THAW_ACCESS_KEYS_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
    /**
     * How long an async call's tries may find no worker (NO_WORKER: nothing ran) before they use
     * up its attempts: a worker outage shorter than this fails no call.
     */
    ASYNC_OUTAGE_BUDGET_MS: z.coerce.number().int().min(0).max(86_400_000).default(300_000),
    /**
     * "allow": async callbacks may go to private, loopback, link-local and this host's own
     * addresses (those of every interface).
     */
    ASYNC_CALLBACK_PRIVATE: z.enum(['deny', 'allow']).default('deny'),
    /**
     * On SIGTERM, how long in-flight requests may take to finish before their connections are cut
     * and the gateway exits anyway.
     */
    GATEWAY_DRAIN_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
    /**
     * An uploaded image no function's record has named for this long is deleted (record and
     * archive). Keep it above PLACE_TIMEOUT_MS: a create or update holds its image for no longer.
     */
    IMAGE_GC_GRACE_MS: z.coerce.number().int().min(0).default(3_600_000),
    /** How often a gateway looks for images to delete; 0 turns image GC off. */
    IMAGE_GC_EVERY_MS: z.coerce.number().int().min(0).default(600_000),
    /**
     * "1": every sync call is timed per phase (gateway, NATS, worker, thaw, container, reply), as
     * a `Server-Timing` response header and an info log line once the response is written. "0"
     * (default): no clock is read and no header is sent for it.
     */
    THAW_TIMINGS: z.enum(['0', '1']).default('0'),
    /**
     * "on" (default): a call goes straight to a worker that holds its function over the worker's
     * direct link (TCP, docs/direct-link.md), NATS staying the control plane and the fallback.
     * "off": every call goes through NATS.
     */
    THAW_DIRECT: z.enum(['on', 'off']).default('on'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .extend(NatsEnv.shape);
export type GatewayEnv = z.infer<typeof Env>;

export function loadEnv(env: NodeJS.ProcessEnv = process.env): GatewayEnv {
  return parseEnv(Env, env);
}
