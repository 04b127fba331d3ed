import { type FunctionRecord, FunctionSpec } from '@thaw/shared';
import { z } from 'zod';
import { invalidParameter } from './errors.js';

/**
 * The Lambda API's function shapes and thaw's: CreateFunction's and UpdateFunctionCode's
 * inputs as a FunctionSpec, a FunctionRecord as a FunctionConfiguration. What maps to what:
 * docs/coming-from-lambda.md.
 */

/** The account id in thaw's ARNs: thaw has no accounts. */
export const ACCOUNT_ID = '000000000000';
/** The tag that deploys a plain HTTP server image (protocol "http") instead of a Lambda runtime. */
export const PROTOCOL_TAG = 'thaw:protocol';
/**
 * Who may call a Lambda-created function over `/fn` and `/async`: its invoke token or the admin
 * token (`token`, the default: Lambda functions are invoked with credentials, never anonymously),
 * or anyone (`public`, opted into with this tag). The Lambda API's Invoke needs a signed request either way.
 */
export const INVOKE_AUTH_TAG = 'thaw:invokeAuth';

export const functionArn = (region: string, name: string): string =>
  `arn:aws:lambda:${region}:${ACCOUNT_ID}:function:${name}`;

/**
 * A FunctionName as the API takes it: a name, a full ARN or a partial one
 * (`<account>:function:<name>`), each with an optional `:<qualifier>`.
 */
export function nameOf(given: string): { name: string; qualifier?: string } {
  const at = given.indexOf(':function:');
  const tail = at < 0 ? given : given.slice(at + ':function:'.length);
  const [name = '', qualifier, ...rest] = tail.split(':');
  if (rest.length) throw invalidParameter(`FunctionName "${given}" is not a name or a function ARN`);
  return qualifier === undefined ? { name } : { name, qualifier };
}

/** Versions and aliases are not kept: only the latest code runs. */
export function checkQualifier(qualifier: string | undefined, name: string): void {
  if (qualifier !== undefined && qualifier !== '$LATEST') {
    throw invalidParameter(
      `function "${name}": qualifier "${qualifier}" is not available (thaw keeps no versions or aliases; use $LATEST or none)`,
    );
  }
}

const Code = z.object({
  ImageUri: z.string().optional(),
  ZipFile: z.unknown().optional(),
  S3Bucket: z.string().optional(),
});

/** CreateFunction's body: the fields thaw uses (others, such as Role or Description, are ignored). */
const CreateInput = z.object({
  FunctionName: z.string().min(1).max(170),
  PackageType: z.string().optional(),
  Code,
  MemorySize: z.number().int().optional(),
  Timeout: z.number().int().min(1).max(900).optional(),
  Environment: z.object({ Variables: z.record(z.string(), z.string()).optional() }).optional(),
  EphemeralStorage: z.object({ Size: z.number().int() }).optional(),
  Tags: z.record(z.string(), z.string()).optional(),
});

const UpdateCodeInput = z.object({ ImageUri: z.string().optional(), ZipFile: z.unknown().optional() });

function imageOf(code: z.infer<typeof Code> | z.infer<typeof UpdateCodeInput>): string {
  if (code.ZipFile !== undefined || ('S3Bucket' in code && code.S3Bucket !== undefined)) {
    throw invalidParameter('thaw runs container images only: zip packages are not supported (use ImageUri)');
  }
  if (!code.ImageUri) {
    throw invalidParameter(
      'Code.ImageUri is required: a registry reference (host[:port]/repository[:tag]) or an uploaded image digest (sha256:...)',
    );
  }
  return code.ImageUri;
}

/** A FunctionSpec's field named as the Lambda API names it, for error messages. */
const LAMBDA_FIELD: Record<string, string> = {
  name: 'FunctionName',
  image: 'Code.ImageUri',
  env: 'Environment.Variables',
  memoryMiB: 'MemorySize',
  diskMiB: 'EphemeralStorage.Size',
  timeoutMs: 'Timeout',
  protocol: `Tags["${PROTOCOL_TAG}"]`,
  invokeAuth: `Tags["${INVOKE_AUTH_TAG}"]`,
};

function specOf(input: Record<string, unknown>): FunctionSpec {
  const parsed = FunctionSpec.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = String(issue?.path[0] ?? '(body)');
  throw invalidParameter(`${LAMBDA_FIELD[field] ?? field}: ${issue?.message ?? 'invalid'}`);
}

function parse<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw invalidParameter(`${issue?.path.join('.') || '(body)'}: ${issue?.message ?? 'invalid'}`);
}

/** CreateFunction's body as a FunctionSpec (protocol "lambda" unless the protocol tag says "http"). */
export function createSpec(body: unknown): FunctionSpec {
  const input = parse(CreateInput, body);
  if ((input.PackageType ?? 'Zip') !== 'Image') {
    throw invalidParameter(
      'thaw runs container images only: PackageType must be "Image" (zip packages are not supported)',
    );
  }
  const { name, qualifier } = nameOf(input.FunctionName);
  if (qualifier !== undefined) throw invalidParameter('FunctionName: a new function takes no qualifier');
  return specOf({
    name,
    image: imageOf(input.Code),
    ...(input.MemorySize !== undefined ? { memoryMiB: input.MemorySize } : {}),
    ...(input.Timeout !== undefined ? { timeoutMs: input.Timeout * 1000 } : {}),
    ...(input.EphemeralStorage ? { diskMiB: input.EphemeralStorage.Size } : {}),
    env: input.Environment?.Variables ?? {},
    protocol: input.Tags?.[PROTOCOL_TAG] ?? 'lambda',
    invokeAuth: input.Tags?.[INVOKE_AUTH_TAG] ?? 'token',
  });
}

/** The function's spec with UpdateFunctionCode's new image (everything else as it is). */
export function updatedCodeSpec(fn: FunctionRecord, body: unknown): FunctionSpec {
  const image = imageOf(parse(UpdateCodeInput, body));
  const {
    revision: _r,
    status: _s,
    reason: _why,
    imageDigest: _d,
    invokeTokenSha256: _t,
    createdAt: _c,
    updatedAt: _u,
    ...spec
  } = fn;
  return specOf({ ...spec, image });
}

const STATE = { ready: 'Active', pulling: 'Pending', failed: 'Failed' } as const;
const UPDATE_STATUS = { ready: 'Successful', pulling: 'InProgress', failed: 'Failed' } as const;

/** Lambda's LastModified form: 2019-09-24T18:18:30.000+0000. */
const lastModified = (iso: string): string => iso.replace(/Z$/, '+0000');

/** A function as the Lambda API's FunctionConfiguration. */
export function configurationOf(fn: FunctionRecord, region: string): Record<string, unknown> {
  return {
    FunctionName: fn.name,
    FunctionArn: functionArn(region, fn.name),
    PackageType: 'Image',
    CodeSha256: fn.imageDigest?.replace(/^sha256:/, '') ?? '',
    CodeSize: 0,
    Description: '',
    MemorySize: fn.memoryMiB,
    Timeout: Math.ceil(fn.timeoutMs / 1000),
    EphemeralStorage: { Size: fn.diskMiB },
    Environment: { Variables: fn.env },
    LastModified: lastModified(fn.updatedAt),
    Version: '$LATEST',
    RevisionId: String(fn.revision),
    State: STATE[fn.status],
    LastUpdateStatus: UPDATE_STATUS[fn.status],
    ...(fn.reason ? { StateReason: fn.reason, StateReasonCode: 'ImageAccessDenied' } : {}),
    Architectures: [process.arch === 'arm64' ? 'arm64' : 'x86_64'],
  };
}

/** GetFunction's answer. */
export function getFunctionOf(fn: FunctionRecord, region: string): Record<string, unknown> {
  return {
    Configuration: configurationOf(fn, region),
    Code: {
      RepositoryType: fn.image.startsWith('sha256:') ? 'thaw' : 'registry',
      ImageUri: fn.image,
      ...(fn.imageDigest ? { ResolvedImageUri: fn.imageDigest } : {}),
    },
    Tags: { [PROTOCOL_TAG]: fn.protocol, [INVOKE_AUTH_TAG]: fn.invokeAuth },
  };
}
