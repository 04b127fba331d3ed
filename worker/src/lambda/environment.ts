import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { RunnableImage } from '@thaw/runtime';
import type { FunctionRecord } from '@thaw/shared';

/** Where AWS's images keep the function's code; their runtimes read it from LAMBDA_TASK_ROOT. */
export const LAMBDA_TASK_ROOT = '/var/task';

/**
 * The reserved environment a Lambda runtime reads, as Lambda sets it, over the function's own
 * variables (Lambda does not let a function set these). The values are the same for every
 * instance of a revision, so that prepared instances (made ahead with the same options) fit.
 */
export function lambdaEnvironment(o: {
  fn: FunctionRecord;
  image: RunnableImage;
  runtimeApi: string;
  region: string;
}): Record<string, string> {
  const { fn, image, region } = o;
  const handler = image.config.cmd[0];
  return {
    ...fn.env,
    AWS_LAMBDA_RUNTIME_API: o.runtimeApi,
    AWS_LAMBDA_FUNCTION_NAME: fn.name,
    AWS_LAMBDA_FUNCTION_VERSION: String(fn.revision),
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMiB),
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: `thaw/[${fn.revision}]${fn.name}`,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    LAMBDA_TASK_ROOT,
    ...(handler ? { _HANDLER: handler } : {}),
  };
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function readFrom(path: string, offset: number, maxBytes: number): Buffer {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = statSync(path).size;
    // The log collector truncates a full file: then all of it is new.
    const from = Math.max(size < offset ? 0 : offset, size - maxBytes);
    const buf = Buffer.alloc(size - from);
    const n = readSync(fd, buf, 0, buf.length, from);
    return buf.subarray(0, n);
  } catch {
    return Buffer.alloc(0);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * A mark in an instance's output files: `since()` answers what it printed after it (the last
 * `maxBytes` of stdout, then of stderr), for the Lambda Invoke API's log tail.
 */
export function logMark(files: { stdout: string; stderr: string }, maxBytes: number) {
  const out = sizeOf(files.stdout);
  const err = sizeOf(files.stderr);
  return {
    since: async (): Promise<string> =>
      Buffer.concat([readFrom(files.stdout, out, maxBytes), readFrom(files.stderr, err, maxBytes)]).toString(
        'utf8',
      ),
  };
}
