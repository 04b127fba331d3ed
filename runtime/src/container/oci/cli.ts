import { existsSync } from 'node:fs';
import {
  type CommandError,
  type LogFiles,
  run,
  runMeasured,
  runToFilesMeasured,
  waitPidExit,
} from '../../process/index.js';
import type { OciCommands, OciDriverOptions, OciRuntime } from './types.js';

/** How long a destroy waits for a killed container's init to die before `delete --force`. */
const KILL_WAIT_MS = 2000;
const KILL_POLL_MS = 2;

/** What sets one OCI tool's command line apart from another's. */
export interface OciDialect {
  name: string;
  /** How the tool's `delete` says the container is gone already. */
  missing: RegExp;
}

/**
 * An OCI runtime driven through its command line. runc and crun share it (the same global
 * `--root` and `--systemd-cgroup`, the same run/kill/delete/list verbs); what differs is in
 * their dialects.
 */
export class OciCli implements OciRuntime {
  readonly name: string;
  private readonly bin: string;
  private readonly global: string[];
  private readonly commands: OciCommands;

  constructor(
    private readonly dialect: OciDialect,
    private readonly opts: OciDriverOptions,
  ) {
    this.name = dialect.name;
    this.bin = opts.bin ?? dialect.name;
    this.global = ['--root', opts.root, ...(opts.systemdCgroup ? ['--systemd-cgroup'] : [])];
    this.commands = {
      run,
      runToFiles: runToFilesMeasured,
      runMeasured,
      waitPidExit,
      exists: existsSync,
      ...opts.commands,
    };
  }

  run(id: string, bundle: string, pidFile: string, logs: LogFiles): Promise<number | undefined> {
    const args = [...this.global, 'run', '--detach', '--bundle', bundle, '--pid-file', pidFile, id];
    // A detached runtime hands its own stdio to the container, so both the tool's errors and
    // the container's output land in the log files, which the container keeps after it exits.
    return this.commands.runToFiles(this.bin, args, logs, `${this.bin} run ${id}`);
  }

  create(id: string, bundle: string, pidFile: string, logs: LogFiles): Promise<number | undefined> {
    const args = [...this.global, 'create', '--bundle', bundle, '--pid-file', pidFile, id];
    // As with run: the tool hands its stdio to the container's init, which outlives it.
    return this.commands.runToFiles(this.bin, args, logs, `${this.bin} create ${id}`);
  }

  async start(id: string): Promise<number | undefined> {
    return (await this.commands.runMeasured(this.bin, [...this.global, 'start', id])).cpuMs;
  }

  async delete(id: string, pid?: number): Promise<void> {
    if (pid) {
      // `delete --force` on a live container kills it and then sleeps 100 ms before it looks
      // again; killing first and watching the pid ourselves makes a destroy ~100 ms faster.
      await this.commands.run(this.bin, [...this.global, 'kill', id, 'KILL']).catch(() => undefined);
      await this.commands.waitPidExit(pid, KILL_WAIT_MS, KILL_POLL_MS);
    }
    await this.commands
      .run(this.bin, [...this.global, 'delete', '--force', id])
      .catch((err: CommandError) => {
        if (!this.dialect.missing.test(err.message)) throw err;
      });
  }

  async list(): Promise<string[]> {
    // The tools create their root on any command: a residue check after close would make the
    // folder it checks for.
    if (!this.commands.exists(this.opts.root)) return [];
    const out = await this.commands.run(this.bin, [...this.global, 'list', '--quiet']).catch(() => '');
    return out.split('\n').filter(Boolean);
  }
}
