import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { CommandError } from './run.js';

/** Files a detached process's stdout and stderr are appended to. */
export interface LogFiles {
  stdout: string;
  stderr: string;
}

/**
 * Runs `bin` with its stdout and stderr appended to two files, for a tool that hands its own
 * stdio on to a process that outlives it (a detached `runc run`): a pipe would stay open for that
 * process's whole life. O_APPEND, so that a reader can truncate a file that grew too large while
 * the writer goes on. A non-zero exit fails with the stderr file's tail.
 */
export function runToFiles(
  bin: string,
  args: readonly string[],
  logs: LogFiles,
  label: string,
): Promise<void> {
  const out = openSync(logs.stdout, 'a');
  const err = openSync(logs.stderr, 'a');
  return new Promise<void>((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', out, err] });
    child.once('error', (err) => reject(new CommandError(`${bin} run`, '', { cause: err })));
    child.once('exit', (code) => {
      if (code === 0) return resolve();
      const tail = readFileSync(logs.stderr, 'utf8').slice(-2000);
      reject(new CommandError(label, tail || `exit code ${code}`));
    });
  }).finally(() => {
    closeSync(out);
    closeSync(err);
  });
}

/** The errors an output stream fails with: the tool did not start, or it exited non-zero. */
export interface OutputErrors {
  cannotStart(message: string): Error;
  failed(stderr: string): Error;
}

/** A tool's stdout as a stream, which fails when the tool cannot start or exits non-zero. */
export function outputStream(bin: string, args: readonly string[], errors: OutputErrors): Readable {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (b: Buffer) => {
    err += b.toString();
  });
  const out = child.stdout;
  child.once('error', (e) => out.destroy(errors.cannotStart(e.message)));
  child.once('exit', (code) => {
    if (code !== 0) out.destroy(errors.failed(err.trim()));
  });
  return out;
}
