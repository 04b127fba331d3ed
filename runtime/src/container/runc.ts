import { existsSync } from 'node:fs';
import { type CommandError, run, runToFiles, waitPidExit } from '../process/index.js';

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
    return runToFiles(this.bin, args, logs, `${this.bin} run ${id}`);
  }

  async delete(id: string, pid?: number): Promise<void> {
    if (pid) {
      // `delete --force` on a live container kills it and then sleeps 100 ms before it looks
      // again; killing first and watching the pid ourselves makes a destroy ~100 ms faster.
      await run(this.bin, ['--root', this.root, 'kill', id, 'KILL']).catch(() => undefined);
      await waitPidExit(pid, 2000, 2);
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
