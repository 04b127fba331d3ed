import type { LogFiles, run, runMeasured, runToFilesMeasured, waitPidExit } from '../../process/index.js';

/** The low-level OCI runtime behind a small interface: runc or crun. */
export interface OciRuntime {
  /** The tool's name, for messages. */
  readonly name: string;
  /**
   * Creates and starts the container detached, its stdout and stderr appended to two files;
   * resolves to the CPU time the tool cost, in milliseconds, when it could be measured.
   */
  run(id: string, bundle: string, pidFile: string, logs: LogFiles): Promise<number | undefined>;
  /**
   * Creates the container without starting its process (its init waits in its namespaces and
   * cgroup), so that `start` is all a later start costs; resolves to the tool's CPU time.
   */
  create(id: string, bundle: string, pidFile: string, logs: LogFiles): Promise<number | undefined>;
  /** Starts the process of a created container; resolves to the tool's CPU time. */
  start(id: string): Promise<number | undefined>;
  /** Kills (if `pid` is given, waits for it) and removes the container. */
  delete(id: string, pid?: number): Promise<void>;
  /** Ids of the containers the tool has in its state folder. */
  list(): Promise<string[]>;
}

/** Which OCI runtime a `Runtime` drives (`RuntimeOptions.ociRuntime`). */
export type OciRuntimeName = 'runc' | 'crun';

/** The process helpers an OCI driver runs its tool with; tests pass fakes to see the argv. */
export interface OciCommands {
  run: typeof run;
  runToFiles: typeof runToFilesMeasured;
  runMeasured: typeof runMeasured;
  waitPidExit: typeof waitPidExit;
  exists: (path: string) => boolean;
}

export interface OciDriverOptions {
  /** The tool's state folder (its `--root`); keep it on tmpfs such as /run. */
  root: string;
  /** The binary, a name on PATH or a path (default: the tool's name). */
  bin?: string;
  /** Let systemd manage the cgroups (`--systemd-cgroup`; cgroupsPath is "slice:prefix:name"). */
  systemdCgroup?: boolean;
  commands?: Partial<OciCommands>;
}
