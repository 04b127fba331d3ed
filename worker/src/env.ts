import { availableParallelism, hostname, totalmem } from 'node:os';
import { NatsEnv, natsServers, parseEnv, WorkerId } from '@thaw/shared';
import { z } from 'zod';
import { DEFAULT_FREEZE_AFTER_MS, DEFAULT_HEARTBEAT_MS } from './timings.js';

const RegistryAuth = z.record(z.string(), z.object({ username: z.string(), password: z.string() }));

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

const Env = z
  .object({
    /** Names this worker in replies, logs, heartbeats and its placement subject. */
    WORKER_ID: WorkerId.default(
      `${hostname()
        .replace(/[^A-Za-z0-9_-]/g, '-')
        .slice(0, 40)}-${process.pid}`,
    ),
    /** Prefix of every NATS subject, so installations can share a NATS server. */
    THAW_PREFIX: z
      .string()
      .regex(/^[a-zA-Z0-9_-]+$/)
      .default('thaw'),
    /** Images and container bundles; survives restarts so orphans can be found. */
    THAW_STATE_DIR: z.string().default('/var/lib/thaw'),
    /** runc state and IP allocations; on tmpfs so a reboot leaves nothing stale. */
    THAW_RUN_DIR: z.string().default('/run/thaw'),
    /** cgroup parent of this worker's containers (one per worker on a host). */
    THAW_CGROUP_PARENT: z
      .string()
      .regex(/^[a-zA-Z0-9_.-]+$/)
      .default('thaw'),
    /** Host bridge for instances (at most 15 characters). */
    THAW_BRIDGE: z
      .string()
      .regex(/^[a-zA-Z0-9_-]{1,15}$/)
      .default('thaw0'),
    /** Subnet instances get addresses from. */
    THAW_SUBNET: z
      .string()
      .regex(/^\d+\.\d+\.\d+\.\d+\/\d+$/)
      .default('10.209.0.0/16'),
    /** What instances may reach beyond the host: nothing, or anything masqueraded behind it. */
    THAW_EGRESS: z.enum(['off', 'masquerade']).default('off'),
    /**
     * Port of the Lambda Runtime API on the bridge's address (docs/lambda.md): the one port of
     * the host instances may reach. Workers on one host have their own bridges, so it may repeat.
     * Below 1024 by default: only root (the worker) may bind it, so no other local user can take
     * the port instances are let through to before the worker listens on it.
     */
    THAW_LAMBDA_API_PORT: z.coerce.number().int().min(1).max(65535).default(901),
    /** AWS_REGION of `lambda` instances, and the region in their ARNs. */
    THAW_LAMBDA_REGION: z.string().min(1).default('local'),
    /**
     * Idle time after which a thawed instance is frozen again. `never`: idle instances stay
     * running, charged their limit (a baseline for benchmarks and a debugging aid, not for use:
     * idle instances then cost CPU and the budget holds far fewer).
     */
    FREEZE_AFTER_MS: z
      .union([
        z.literal('never').transform(() => Number.POSITIVE_INFINITY),
        z.coerce.number().int().min(0).max(600_000),
      ])
      .default(DEFAULT_FREEZE_AFTER_MS),
    /** Containers this worker creates at once; more wait their turn (default: 2 per CPU core). */
    START_CONCURRENCY: z.coerce
      .number()
      .int()
      .min(1)
      .max(256)
      .default(Math.max(2, 2 * availableParallelism())),
    /** How long a new instance has to start listening on its port. */
    START_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(15_000),
    /** Registries (host:port, comma-separated) reached over plain HTTP; loopback ones always are. */
    THAW_INSECURE_REGISTRIES: z
      .string()
      .default('')
      .transform((s) =>
        s
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean),
      ),
    /**
     * "allow": images may be pulled from registries at private, loopback, link-local or this
     * host's own addresses (a local registry). Refused by default.
     */
    THAW_REGISTRY_PRIVATE: z.enum(['deny', 'allow']).default('deny'),
    /** Registry credentials as JSON: {"host:port": {"username": "...", "password": "..."}}. Never logged. */
    THAW_REGISTRY_AUTH: z
      .string()
      .default('{}')
      .transform((s, ctx) => {
        const parsed = RegistryAuth.safeParse(safeJson(s));
        if (parsed.success) return parsed.data;
        ctx.addIssue({
          code: 'custom',
          message: 'must be JSON: {"host:port": {"username": "...", "password": "..."}}',
        });
        return z.NEVER;
      }),
    /**
     * Memory this worker may commit to instances: running ones are charged their memory limit,
     * frozen ones their usage as read when they froze (docs/keep-frozen.md). Beyond it, idle
     * instances are evicted (Greedy-Dual-Size-Frequency), or the start or thaw is refused.
     * Default: 80% of the host's memory.
     */
    THAW_MEMORY_MIB: z.coerce
      .number()
      .int()
      .min(16)
      .default(Math.floor((totalmem() * 0.8) / 2 ** 20)),
    /** How often the worker announces itself; gateways take it as lost after three missed beats. */
    HEARTBEAT_MS: z.coerce.number().int().min(50).max(10_000).default(DEFAULT_HEARTBEAT_MS),
    /** Port of GET /metrics (Prometheus); 0 picks a free one (tests). */
    THAW_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
    THAW_METRICS_HOST: z.string().default('0.0.0.0'),
    /**
     * "on": gateways send calls over a TCP link straight to this worker (docs/direct-link.md),
     * NATS staying the control plane and the fallback. "off": every call goes through NATS.
     * Unset: on, unless NATS is reached over TLS (directLink below).
     */
    THAW_DIRECT: z.enum(['on', 'off']).optional(),
    /**
     * Address of the direct link, listened on and advertised to gateways. Default: the address
     * this host reaches NATS from (loopback when NATS is local).
     */
    THAW_DIRECT_HOST: z.string().min(1).optional(),
    /** Port of the direct link; 0 (default) picks a free one, advertised in heartbeats. */
    THAW_DIRECT_PORT: z.coerce.number().int().min(0).max(65535).default(0),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .extend(NatsEnv.shape);
export type WorkerEnv = z.infer<typeof Env>;

export function loadEnv(env: NodeJS.ProcessEnv = process.env): WorkerEnv {
  return parseEnv(Env, env);
}

/**
 * Whether this worker serves the direct link, and why when the reason is not the setting itself.
 * The link is plain TCP: where NATS is reached over TLS (a certificate setting, or a `tls://`
 * server), the network between hosts is not trusted, and calls are not moved off TLS silently.
 */
export function directLink(env: WorkerEnv): { on: boolean; why?: string } {
  if (env.THAW_DIRECT !== undefined) return { on: env.THAW_DIRECT === 'on' };
  if (!natsUsesTls(env)) return { on: true };
  return {
    on: false,
    why: 'direct link off: NATS uses TLS and the link is plain TCP; set THAW_DIRECT=on to use it anyway',
  };
}

function natsUsesTls(env: WorkerEnv): boolean {
  if (env.NATS_TLS_CA || env.NATS_TLS_CERT || env.NATS_TLS_KEY) return true;
  return natsServers(env.NATS_URL).some((s) => /^tls:\/\//i.test(s));
}
