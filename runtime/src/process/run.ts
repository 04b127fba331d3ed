import { execFile } from 'node:child_process';

export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly command: string,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${command} failed: ${stderr.trim() || String((options?.cause as Error | undefined)?.message)}`,
      options,
    );
  }
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Runs a host tool (runc, ip, mount, a CNI plugin) and returns stdout; failures carry stderr. */
export function run(bin: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      bin,
      args,
      { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new CommandError(`${bin} ${args.join(' ')}`, `${stderr}${stdout}`, { cause: err }));
        else resolve(stdout);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}
