import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { CommandError, run } from './exec.js';

/** A pid that exists and is not a zombie. */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

/** The low-level OCI runtime behind a small interface, so crun or another can replace runc. */
export interface OciRuntime {
  /** Creates and starts the container detached, its stdout and stderr appended to two files. */
  run(id: string, bundle: string, pidFile: string, logs: { stdout: string; stderr: string }): Promise<void>;
  /** Kills (if `pid` is given, waits for it) and removes the container. */
  delete(id: string, pid?: number): Promise<void>;
  list(): Promise<string[]>;
}

export class Runc implements OciRuntime {
  constructor(
    private readonly root: string,
    private readonly bin = 'runc',
  ) {}

  run(id: string, bundle: string, pidFile: string, logs: { stdout: string; stderr: string }): Promise<void> {
    const args = ['--root', this.root, 'run', '--detach', '--bundle', bundle, '--pid-file', pidFile, id];
    // A detached runc hands its own stdio to the container, so both runc's errors and the
    // container's output land in the log files, which the container keeps after runc exits.
    // A pipe here would stay open for the container's whole life. O_APPEND, so that the worker
    // can truncate a file that grew too large while the container goes on writing.
    const out = openSync(logs.stdout, 'a');
    const err = openSync(logs.stderr, 'a');
    return new Promise<void>((resolve, reject) => {
      const child = spawn(this.bin, args, { stdio: ['ignore', out, err] });
      child.once('error', (err) => reject(new CommandError(`${this.bin} run`, '', { cause: err })));
      child.once('exit', (code) => {
        if (code === 0) return resolve();
        const tail = readFileSync(logs.stderr, 'utf8').slice(-2000);
        reject(new CommandError(`${this.bin} run ${id}`, tail || `exit code ${code}`));
      });
    }).finally(() => {
      closeSync(out);
      closeSync(err);
    });
  }

  async delete(id: string, pid?: number): Promise<void> {
    if (pid) {
      // `delete --force` on a live container kills it and then sleeps 100 ms before it looks
      // again; killing first and watching the pid ourselves makes a destroy ~100 ms faster.
      await run(this.bin, ['--root', this.root, 'kill', id, 'KILL']).catch(() => undefined);
      const deadline = performance.now() + 2000;
      while (isRunning(pid) && performance.now() < deadline) await sleep(2);
    }
    await run(this.bin, ['--root', this.root, 'delete', '--force', id]).catch((err: CommandError) => {
      if (!/does not exist|not exist/i.test(err.message)) throw err;
    });
  }

  async list(): Promise<string[]> {
    // runc creates its root on any command: a residue check after close would make the folder
    // it checks for.
    if (!existsSync(this.root)) return [];
    const out = await run(this.bin, ['--root', this.root, 'list', '--quiet']).catch(() => '');
    return out.split('\n').filter(Boolean);
  }
}
