import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { measuredArgv, parseChildCpu } from './cpu.js';
import { CommandError, type RunOptions } from './run.js';
import type { LogFiles } from './spawn.js';

/** A tool's output and the CPU time it cost (undefined when it could not be read). */
export interface Measured {
  stdout: string;
  cpuMs: number | undefined;
}

/**
 * Like `run`, with the tool's own CPU time (and its descendants') measured per child (see
 * cpu.ts). For the tools on a container start's path: the OCI runtime and the CNI plugins.
 */
export function runMeasured(bin: string, args: readonly string[], opts: RunOptions = {}): Promise<Measured> {
  const m = measuredArgv(bin, args);
  return new Promise((resolve, reject) => {
    const child = spawn(m.bin, m.args, {
      // bash started without SHLVL made the tool under it cost ~100 ms more CPU and up to
      // seconds of wall time on this project's host (seen with host-local under a PATH-only
      // environment; not understood, so not relied on: the wrapper always has it).
      env: { SHLVL: '1', ...(opts.env ?? process.env) },
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 30_000,
    });
    const chunks: Record<'out' | 'err' | 'cpu', Buffer[]> = { out: [], err: [], cpu: [] };
    child.stdout?.on('data', (b: Buffer) => chunks.out.push(b));
    child.stderr?.on('data', (b: Buffer) => chunks.err.push(b));
    (child.stdio[3] as NodeJS.ReadableStream | null)?.on('data', (b: Buffer) => chunks.cpu.push(b));
    child.once('error', (err) => reject(new CommandError(`${bin} ${args.join(' ')}`, '', { cause: err })));
    child.once('close', (code) => {
      const stdout = Buffer.concat(chunks.out).toString();
      if (code !== 0) {
        const stderr = Buffer.concat(chunks.err).toString();
        return reject(new CommandError(`${bin} ${args.join(' ')}`, `${stderr}${stdout}`));
      }
      resolve({ stdout, cpuMs: parseChildCpu(Buffer.concat(chunks.cpu).toString()) });
    });
    child.stdin?.end(opts.input ?? '');
  });
}

/**
 * Like `runToFiles` (a tool that hands its stdio to a process outliving it), with its CPU time
 * measured per child; resolves to that time in milliseconds.
 */
export function runToFilesMeasured(
  bin: string,
  args: readonly string[],
  logs: LogFiles,
  label: string,
): Promise<number | undefined> {
  const m = measuredArgv(bin, args);
  const out = openSync(logs.stdout, 'a');
  const err = openSync(logs.stderr, 'a');
  return new Promise<number | undefined>((resolve, reject) => {
    const child = spawn(m.bin, m.args, { stdio: ['ignore', out, err, 'pipe'] });
    const cpu: Buffer[] = [];
    (child.stdio[3] as NodeJS.ReadableStream | null)?.on('data', (b: Buffer) => cpu.push(b));
    child.once('error', (e) => reject(new CommandError(`${bin} run`, '', { cause: e })));
    // 'close', not 'exit': fd 3 must have been read to its end.
    child.once('close', (code) => {
      if (code === 0) return resolve(parseChildCpu(Buffer.concat(cpu).toString()));
      const tail = readFileSync(logs.stderr, 'utf8').slice(-2000);
      reject(new CommandError(label, tail || `exit code ${code}`));
    });
  }).finally(() => {
    closeSync(out);
    closeSync(err);
  });
}
