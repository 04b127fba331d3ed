import { errorCodes, FunctionRecord, FunctionSpec, RemovalReason, WorkerHeartbeat } from '@thaw/shared';
import { z } from 'zod';
import { type Json, schema } from './common.js';

const digest = `sha256:${'0123456789abcdef'.repeat(4)}`;

/** Examples shared by the operations that send or return these objects. */
export const examples = {
  digest,
  spec: { name: 'hello', image: digest, memoryMiB: 128, timeoutMs: 30000, maxInstances: 10 },
  // The defaults come from the schema itself, so the example cannot drift from them.
  record: FunctionRecord.parse({
    name: 'hello',
    image: digest,
    imageDigest: digest,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  }),
};

/** The API's view of a record: the invoke token's hash is never shown. */
const FunctionOut = FunctionRecord.omit({ invokeTokenSha256: true });

const StoredAnswer = z.object({
  status: z.number().int(),
  headers: z.record(z.string(), z.union([z.string(), z.array(z.string())])),
  body: z.string().meta({ description: 'base64' }),
  truncated: z.boolean(),
  bodyEncoding: z.literal('base64'),
});

const CallbackRecord = z.object({
  status: z.enum(['sent', 'refused', 'failed', 'pending']),
  reason: z.string().optional(),
  responseStatus: z.number().int().optional(),
  tries: z.number().int().optional(),
  at: z.string().optional(),
});

/** GET /v1/calls/:id (gateway/src/async/records.ts CallView). */
const CallView = z.object({
  callId: z.string(),
  function: z.string(),
  source: z.enum(['async', 'schedule']).meta({ description: "An async call, or a schedule's tick." }),
  schedule: z.string().optional().meta({ description: 'The schedule whose tick this is.' }),
  scheduledAt: z.string().optional().meta({ description: 'When the tick was due.' }),
  status: z.enum(['queued', 'running', 'retrying', 'succeeded', 'dead']),
  attempts: z.number().int(),
  maxAttempts: z.number().int(),
  createdAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  response: StoredAnswer.optional(),
  error: z.string().optional(),
  callback: CallbackRecord.optional(),
});

const Removed = z.partialRecord(RemovalReason, z.number().int().nonnegative());

/** One function's bucket in GET /v1/stats (gateway/src/stats/query.ts StatsPoint). */
const StatsPoint = z.object({
  t: z.string().meta({ description: "The bucket's start (ISO 8601)." }),
  calls: z.number().int(),
  errors: z
    .number()
    .int()
    .meta({ description: 'Calls that failed on the platform or answered 500 or more.' }),
  cold: z.number().int().meta({ description: 'Calls that waited for an instance started for them.' }),
  ratePerSec: z
    .number()
    .meta({ description: 'Calls per second (the open bucket: over the seconds it has run).' }),
  p50Ms: z.number().nullable().meta({ description: 'Median latency in ms (within 12%); null with no call.' }),
  p99Ms: z.number().nullable().meta({ description: '99th percentile latency in ms; null with no call.' }),
});

/** GET /v1/stats (gateway/src/stats/query.ts StatsAnswer). */
const CallStats = z.object({
  bucketSeconds: z.number().int(),
  from: z.string().meta({ description: "The first bucket's start (ISO 8601)." }),
  to: z.string().meta({ description: 'The time of the answer; the last bucket is the open one.' }),
  functions: z.record(z.string(), z.array(StatsPoint)).meta({
    description: 'Per function called in the last hour: every bucket from `from` to `to`, oldest first.',
  }),
});

/** The components: request and response bodies from the zod schemas the gateway validates with. */
export function componentSchemas(): Record<string, Json> {
  const FunctionView = FunctionOut.extend({
    workers: z.array(
      z.object({
        worker: z.string(),
        draining: z.boolean(),
        starting: z.number().int(),
        removed: Removed,
        instances: WorkerHeartbeat.shape.functions.element.shape.instances,
      }),
    ),
    removed: Removed,
  });
  return {
    FunctionSpec: schema(FunctionSpec, 'input'),
    // PUT names the function in its path: the body may leave the name out (if given, it must match).
    FunctionUpdate: schema(
      FunctionSpec.partial({ name: true }).meta({
        description:
          'A function spec for an update: the name comes from the path; if given, it must match it.',
      }),
      'input',
    ),
    FunctionRecord: schema(FunctionOut, 'output'),
    FunctionCreated: schema(
      FunctionOut.extend({
        invokeToken: z
          .string()
          .optional()
          .meta({ description: 'The invoke token of an invokeAuth "token" function, shown this once.' }),
      }),
      'output',
    ),
    FunctionView: schema(FunctionView, 'output'),
    WorkerHeartbeat: schema(
      WorkerHeartbeat.extend({
        lastSeenMs: z.number(),
        /** Where the worker's direct link listens (its token is never served). */
        direct: z.object({ host: z.string(), port: z.number().int() }).optional(),
      }),
      'output',
    ),
    CallStats: schema(CallStats, 'output'),
    CallView: schema(CallView, 'output'),
    Error: {
      type: 'object',
      properties: {
        error: {
          type: 'object',
          properties: { code: { type: 'string', enum: errorCodes }, message: { type: 'string' } },
          required: ['code', 'message'],
        },
      },
      required: ['error'],
    },
  };
}
