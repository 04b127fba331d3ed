import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LogFiles } from '../process/index.js';

/** How much of each log a failure message carries. */
export const LOG_TAIL_BYTES = 64 * 1024;

/** Files a container's stdout and stderr are appended to, in its bundle. */
export function logPathsOf(bundle: string): LogFiles {
  return { stdout: join(bundle, 'stdout.log'), stderr: join(bundle, 'stderr.log') };
}

/** The last output: stdout's tail, then stderr's (each up to `maxBytes`). */
export async function readLogs(bundle: string, maxBytes: number): Promise<string> {
  const p = logPathsOf(bundle);
  const [out, err] = await Promise.all([
    readFile(p.stdout, 'utf8').catch(() => ''),
    readFile(p.stderr, 'utf8').catch(() => ''),
  ]);
  return out.slice(-maxBytes) + err.slice(-maxBytes);
}
