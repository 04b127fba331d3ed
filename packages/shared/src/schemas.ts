import { z } from 'zod';
import { MAX_SCHEDULES, Schedule } from './schedules.js';
import { MAX_TRIGGERS, Trigger } from './triggers.js';

/** DNS-label-like, so a name is safe in NATS subjects, URLs, cgroup paths and file names. */
export const FunctionName = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,47}$/,
    'must be 1-48 characters: lower-case letters, digits and "-", starting with a letter',
  );
export type FunctionName = z.infer<typeof FunctionName>;

export const ImageDigest = z.string().regex(/^sha256:[a-f0-9]{64}$/, 'must be sha256:<64 hex digits>');
export type ImageDigest = z.infer<typeof ImageDigest>;

const EnvName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are letters, digits and _');

/**
 * A whole number in [min, max]. The bounds come first: zod's int check has a bound of its own
 * (the safe integers), and a value past both (1e308) would otherwise be told that one, not ours.
 */
const whole = (min: number, max: number) => z.number().min(min).max(max).int();

/** What a user sends to deploy a function. */
export const FunctionSpec = z.strictObject({
  name: FunctionName,
  /** An image digest from POST /v1/images, or a registry reference (not supported yet). */
  image: z.string().min(1).max(512),
  env: z
    .record(EnvName, z.string().max(32 * 1024))
    .default({})
    .refine((env) => Object.keys(env).length <= 128, 'at most 128 variables'),
  /** Memory limit of one instance. */
  memoryMiB: whole(16, 16384).default(128),
  /**
   * Size of one instance's writable layer (a tmpfs under its root filesystem): writes past it
   * fail with ENOSPC instead of filling the host's disk. Its pages count against memoryMiB.
   */
  diskMiB: whole(1, 16384).default(256),
  /** Per-request timeout; the gateway answers 504 FUNCTION_TIMEOUT beyond it. */
  timeoutMs: whole(100, 900_000).default(30_000),
  /** The port the image's HTTP server listens on; also passed as $PORT. */
  port: whole(1, 65535).default(8080),
  /** Instances kept (frozen) on each worker that holds the function, even when idle. */
  minInstances: whole(0, 100).default(0),
  /**
   * Most instances on one worker, cut to what the worker's memory budget holds of them
   * (THAW_MEMORY_MIB / memoryMiB). Requests beyond them wait, and are refused (429 OVERLOADED)
   * only when the queue cannot drain in time (docs/errors.md). 10 per worker, not more: with
   * concurrency 1 each instance is a process, and more than the host runs at once adds start
   * time and memory (idle instances stay frozen), not throughput; busy pools spread to more workers.
   */
  maxInstances: whole(1, 1000).default(10),
  /** Requests one instance serves at once; more wait for a free instance or a new one. */
  concurrency: whole(1, 1000).default(1),
  /**
   * Maximum idle age: instances above the minimum idle this long are removed. Unset (the
   * default): idle instances stay frozen, costing memory but no CPU, until memory is needed.
   */
  idleTtlMs: whole(1000, 86_400_000).optional(),
  /** Who may invoke: anyone (`public`), or callers with the function's invoke token or the admin token. */
  invokeAuth: z.enum(['public', 'token']).default('public'),
  /** Async calls of this function running at once, across all gateways. */
  asyncConcurrency: whole(1, 1000).default(10),
  /**
   * Tries of an async call before it is dead; retried on 5xx and 429 (WORKER_LOST included). A try
   * that finds no worker (NO_WORKER) uses none while the gateway's ASYNC_OUTAGE_BUDGET_MS lasts.
   */
  asyncAttempts: whole(1, 20).default(3),
  /**
   * How the worker talks to an instance: `http` (its server on `port`), or `lambda` (the image's
   * entrypoint is an AWS Lambda runtime: the worker serves it the Lambda Runtime API and hands it
   * each call as an event; docs/lambda.md).
   */
  protocol: z.enum(['http', 'lambda']).default('http'),
  /** Cron schedules: each tick is one async call, made once across all gateways (docs/schedules.md). */
  schedules: z.array(Schedule).max(MAX_SCHEDULES).default([]),
  /** NATS subjects and JetStream streams whose messages call the function (docs/triggers.md). */
  triggers: z.array(Trigger).max(MAX_TRIGGERS).default([]),
});
export type FunctionSpec = z.infer<typeof FunctionSpec>;
export type FunctionSpecInput = z.input<typeof FunctionSpec>;

/**
 * "host[:port]/repository[:tag|@digest]": an image in a registry. The host is required (there
 * is no default hub: thaw pulls only from registries you name).
 */
export const RegistryReference = z
  .string()
  .regex(
    /^(?:localhost|[\w-]+(?:\.[\w-]+)+|[\w.-]+:\d+|\[[0-9a-f:]+\](?::\d+)?)\/[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[\w][\w.-]{0,127}|@sha256:[a-f0-9]{64})?$/,
    'must be host[:port]/repository[:tag] or host[:port]/repository@sha256:<digest>',
  );

export const FunctionStatus = z.enum(['pulling', 'ready', 'failed']);
export type FunctionStatus = z.infer<typeof FunctionStatus>;

/** A deployed function as stored in the registry. */
export const FunctionRecord = FunctionSpec.extend({
  /** An uploaded image's digest, or a registry reference. */
  image: z.union([ImageDigest, RegistryReference]),
  /** The manifest digest the image resolved to (once pulled, for registry references). */
  imageDigest: ImageDigest.optional(),
  /** 1 when created; every update makes the next revision (new instances replace the old). */
  revision: z.number().int().positive().default(1),
  /** pulling → ready, or failed with `reason`; uploaded images are ready at once. */
  status: FunctionStatus.default('ready'),
  reason: z.string().optional(),
  /** SHA-256 (hex) of the invoke token, for invokeAuth "token"; never shown by the API. */
  invokeTokenSha256: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type FunctionRecord = z.infer<typeof FunctionRecord>;

/** An uploaded image: where workers fetch its archive from (a JetStream object). */
export const ImageRecord = z.object({
  digest: ImageDigest,
  object: z.string(),
  size: z.number().int().nonnegative(),
  uploadedAt: z.string(),
});
export type ImageRecord = z.infer<typeof ImageRecord>;

const WireError = z.object({ code: z.string(), message: z.string() });

/** thaw.images.import: a worker imports an uploaded archive and reports its digest. */
export const ImportRequest = z.object({ object: z.string() });
export type ImportRequest = z.infer<typeof ImportRequest>;
export const ImportReply = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), digest: ImageDigest, size: z.number().int() }),
  z.object({ ok: z.literal(false), error: WireError }),
]);
export type ImportReply = z.infer<typeof ImportReply>;

/** Where a worker gets a function's image: an upload in the object store, or a registry. */
export const ImageSource = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('upload'), record: ImageRecord }),
  z.object({ kind: z.literal('registry'), reference: RegistryReference }),
]);
export type ImageSource = z.infer<typeof ImageSource>;

/** thaw.place: a worker with room starts serving the function. */
export const PlaceRequest = z.object({ fn: FunctionRecord, image: ImageSource });
export type PlaceRequest = z.infer<typeof PlaceRequest>;
export const PlaceReply = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), workerId: z.string(), digest: ImageDigest }),
  z.object({ ok: z.literal(false), error: WireError }),
]);
export type PlaceReply = z.infer<typeof PlaceReply>;

/** thaw.functions.changed: gateways drop their cached copy (status changes, for now). */
export const FunctionChanged = z.object({ name: FunctionName });
export type FunctionChanged = z.infer<typeof FunctionChanged>;

/**
 * thaw.functions.updated: a new revision. Every worker holding the function starts instances
 * of it, switches new calls to them, then drains and removes the old revision's instances.
 */
export const FunctionUpdated = PlaceRequest;
export type FunctionUpdated = PlaceRequest;

/** thaw.functions.removed: every worker drops the function's instances. */
export const FunctionRemoved = z.object({ name: FunctionName });
export type FunctionRemoved = z.infer<typeof FunctionRemoved>;

/** One line an instance wrote. `t` is when the worker read it (ISO 8601). */
export const LogEntry = z.object({
  t: z.string(),
  instance: z.string(),
  revision: z.number().int().positive(),
  stream: z.enum(['stdout', 'stderr']),
  line: z.string(),
});
export type LogEntry = z.infer<typeof LogEntry>;

/** thaw.logs.<fn>: every worker answers with the function's recent lines. */
export const LogsRequest = z.object({ since: z.number(), limit: z.number().int().positive() });
export type LogsRequest = z.infer<typeof LogsRequest>;
export const LogsReply = z.object({ workerId: z.string(), entries: z.array(LogEntry) });
export type LogsReply = z.infer<typeof LogsReply>;

/** A worker id: safe as a NATS subject token. */
export const WorkerId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, "_" or "-"');

export const InstanceState = z.enum(['running', 'frozen']);
export type InstanceState = z.infer<typeof InstanceState>;

/**
 * Where one instance's cold start went, in milliseconds of wall time per phase, and the CPU
 * time the start cost (the worker's helpers, the OCI runtime and the container until ready).
 */
export const StartPhases = z.object({
  /** Finding the image's layers on this host (pulled or imported ahead: near zero). */
  imageMs: z.number().nonnegative(),
  rootfsMs: z.number().nonnegative(),
  networkMs: z.number().nonnegative(),
  /** The OCI runtime's create and start. */
  runtimeMs: z.number().nonnegative(),
  /** From the process started to its port accepting connections. */
  appMs: z.number().nonnegative(),
  totalMs: z.number().nonnegative(),
  /** CPU time, user + system; absent where it could not be measured. */
  cpuMs: z.number().nonnegative().optional(),
});
export type StartPhases = z.infer<typeof StartPhases>;

/** Why the pool removed instances: the keys of a heartbeat's `removed` counts. */
export const RemovalReason = z.enum([
  /** Its memory was needed by another instance (the keep-frozen policy chose it). */
  'memory',
  /** It was idle longer than the function's `idleTtlMs`. */
  'idle-age',
  /** Scaled to zero on request (POST /v1/functions/:name/scale-to-zero). */
  'requested',
  'crashed',
  /** It failed calls in a row without answering. */
  'retired',
  /** Its function was removed or replaced by a new revision. */
  'closed',
]);
export type RemovalReason = z.infer<typeof RemovalReason>;

/** thaw.workers.heartbeat: what a worker holds and how much room it has left. */
export const WorkerHeartbeat = z.object({
  workerId: WorkerId,
  /** How often heartbeats come; a worker silent for three of these is taken as lost. */
  intervalMs: z.number().int().positive(),
  /** A draining worker finishes its calls and takes no new functions. */
  draining: z.boolean(),
  /**
   * Where gateways reach this worker's direct link (wire/direct.ts) and the token it asks of
   * them; absent when the worker serves calls over NATS only. The token is made per start and
   * travels only on NATS, which every gateway and worker is already trusted on.
   */
  direct: z
    .object({
      host: z.string().min(1),
      port: z.number().int().min(1).max(65535),
      token: z.string().min(16),
    })
    .optional(),
  memory: z.object({ budgetMiB: z.number().int(), committedMiB: z.number().int() }),
  functions: z.array(
    z.object({
      name: FunctionName,
      /** Instances being created, not yet listening. */
      starting: z.number().int().nonnegative(),
      /** Instances removed since the worker started, by why. */
      removed: z.partialRecord(RemovalReason, z.number().int().nonnegative()).optional(),
      instances: z.array(
        z.object({
          id: z.string(),
          state: InstanceState,
          busy: z.number().int().nonnegative(),
          /** The function revision the instance runs. */
          revision: z.number().int().positive(),
          /** What it is charged against the worker's budget: its usage when frozen, else its limit. */
          memoryMiB: z.number().nonnegative().optional(),
          /** Its cold start, phase by phase. */
          start: StartPhases.optional(),
        }),
      ),
    }),
  ),
});
export type WorkerHeartbeat = z.infer<typeof WorkerHeartbeat>;
