import { type ChildProcess, spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LAMBDA_TEST_HANDLER } from '../../../runtime/dist/testimages/lambda.js';
// The Lambda test image's parts; @thaw/runtime/testimages does not export them yet.
import { ensureLambdaRic } from '../../../runtime/dist/testimages/lambda-ric.js';

export {
  ensureLambdaRic,
  LAMBDA_RIC_INSTALL_TIMEOUT_MS,
} from '../../../runtime/dist/testimages/lambda-ric.js';

/**
 * The real aws-lambda-ric as a process on this host, with the test image's handler in a task
 * folder of its own: the Runtime API tests run it as the image's entrypoint would.
 */
export class HostRic {
  private constructor(
    readonly proc: ChildProcess,
    private readonly dir: string,
  ) {}

  static async start(o: { api: string; handler?: string; env?: Record<string, string> }): Promise<HostRic> {
    const pkg = await ensureLambdaRic();
    const dir = await mkdtemp(join(tmpdir(), 'thaw-s15b-ric-'));
    await writeFile(join(dir, 'index.mjs'), LAMBDA_TEST_HANDLER);
    const handler = o.handler ?? 'index.handler';
    const proc = spawn(process.execPath, [join(pkg, 'bin', 'index.mjs'), handler], {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        AWS_LAMBDA_RUNTIME_API: o.api,
        AWS_LAMBDA_FUNCTION_NAME: 'ric-test',
        LAMBDA_TASK_ROOT: dir,
        _HANDLER: handler,
        ...o.env,
      },
      // Files, as a container's output is: the log tail reads them.
      stdio: ['ignore', openSync(join(dir, 'stdout.log'), 'a'), openSync(join(dir, 'stderr.log'), 'a')],
    });
    return new HostRic(proc, dir);
  }

  get logPaths(): { stdout: string; stderr: string } {
    return { stdout: join(this.dir, 'stdout.log'), stderr: join(this.dir, 'stderr.log') };
  }

  async output(): Promise<string> {
    const read = (f: string) => readFile(f, 'utf8').catch(() => '');
    return (await read(this.logPaths.stdout)) + (await read(this.logPaths.stderr));
  }

  alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async stop(): Promise<void> {
    if (this.alive()) {
      const exited = new Promise((resolve) => this.proc.once('exit', resolve));
      this.proc.kill('SIGKILL');
      await exited;
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
