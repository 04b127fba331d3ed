import type { Runtime } from '@thaw/runtime';
import { ContainerStartError, type CreateOptions, type RunnableImage } from '@thaw/runtime';
import type { FunctionRecord, Logger, StartPhases } from '@thaw/shared';
import { ThawError } from '@thaw/shared';
import type { RuntimeApi } from '../lambda/api.js';
import { lambdaEnvironment, logMark } from '../lambda/environment.js';
import { LOG_RESULT_BYTES, RuntimeSession } from '../lambda/session.js';
import type { WorkerMetrics } from '../metrics/metrics.js';
import { Instance } from './instance.js';
import type { InstanceFactory } from './pool.js';
import type { Semaphore } from './semaphore.js';

export interface ContainerFactoryOptions {
  fn: FunctionRecord;
  image: RunnableImage;
  runtime: Runtime;
  /** How long a new container has to start listening on its port. */
  startTimeoutMs: number;
  freezeAfterMs: number;
  /**
   * Container starts in progress on this worker, shared by all its functions: on a small host,
   * dozens of starts at once all finish late; a few at a time, the first ones serve sooner.
   */
  starts?: Semaphore;
  log: Logger;
  metrics?: WorkerMetrics;
  /** The worker's Lambda Runtime API, which instances of `lambda` functions are served by. */
  lambdaApi?: RuntimeApi;
}

/**
 * How long after a start the next instance is prepared. Preparing (mounts, `runc create`) takes
 * tens of ms of CPU: right after a cold start, the calls that follow would wait behind it on a
 * small host (the next call took 12 ms instead of 1-4 on two cores).
 */
export const PREPARE_AFTER_START_MS = 1000;

/** The phases a start histogram has, by their StartPhases field. */
const PHASES = [
  ['image', 'imageMs'],
  ['rootfs', 'rootfsMs'],
  ['network', 'networkMs'],
  ['runtime', 'runtimeMs'],
  ['app', 'appMs'],
] as const;

/** Observes one start's phases and CPU time (seconds, as the histograms are). */
export function observeStart(metrics: WorkerMetrics, fn: string, start: StartPhases): void {
  for (const [phase, key] of PHASES) metrics.startPhase.observe({ function: fn, phase }, start[key] / 1000);
  if (start.cpuMs !== undefined) metrics.startCpu.observe({ function: fn }, start.cpuMs / 1000);
}

/**
 * Builds a function's instances as containers of the runtime. From the time it is made (when
 * the function is placed) and a moment after each start, it asks the runtime to prepare the next
 * instance (network, rootfs, the container created but not started), so that a start finds it
 * ready.
 */
export class ContainerFactory implements InstanceFactory<Instance> {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: ContainerFactoryOptions) {
    this.prepareNext();
  }

  async create(): Promise<Instance> {
    const { runtime, starts, fn } = this.opts;
    const lambda = this.lambdaSession();
    if (lambda) await this.serveLambdaApi();
    const create = () =>
      runtime.create(lambda ? { ...this.createOptions(), ...lambda.options } : this.createOptions());
    try {
      const container = await (starts ? starts.use(create) : create());
      this.prepareSoon();
      // The image was resolved when the function was placed: nothing of it is on this path.
      const start = container.startPhases;
      if (start && this.opts.metrics) observeStart(this.opts.metrics, fn.name, start);
      lambda?.started(container.logPaths);
      return new Instance({
        container,
        ...(lambda ? { lambda: lambda.session } : {}),
        freezeAfterMs: this.opts.freezeAfterMs,
        log: this.opts.log,
        ...(this.opts.metrics ? { metrics: this.opts.metrics } : {}),
        ...(start ? { start } : {}),
      });
    } catch (err) {
      lambda?.session.close();
      if (err instanceof ThawError) throw err;
      // The container's own output says why it did not start listening.
      const log =
        err instanceof ContainerStartError && err.log ? `; its output: ${err.log.trim().slice(-500)}` : '';
      throw new ThawError('FUNCTION_START_FAILED', `${(err as Error).message}${log}`, { cause: err });
    }
  }

  /** Removes the instance prepared ahead: for when the function leaves this worker. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.opts.runtime.unprepare(this.createOptions());
  }

  /**
   * For an instance of a `lambda` function: its session with the worker's Runtime API, and the
   * readiness probe that binds the instance's address to it and waits for its first /next.
   */
  private lambdaSession() {
    const { fn, lambdaApi: api } = this.opts;
    if (fn.protocol !== 'lambda') return undefined;
    if (!api) {
      throw new ThawError(
        'FUNCTION_START_FAILED',
        'this worker serves no Lambda Runtime API for lambda functions',
      );
    }
    let ip: string | undefined;
    let files: { stdout: string; stderr: string } | undefined;
    const session = new RuntimeSession({
      functionName: fn.name,
      functionArn: api.functionArn(fn.name),
      logMark: () => logMark(files ?? { stdout: '', stderr: '' }, LOG_RESULT_BYTES),
      onClose: () => {
        if (ip) api.unbind(ip, session);
      },
    });
    const ready = {
      wait: async (address: string, timeoutMs: number, alive: () => boolean) => {
        ip = address;
        api.bind(address, session);
        // Listening already, unless the bridge did not exist before this very container.
        await api.start();
        await session.ready(timeoutMs, alive);
      },
    };
    return {
      session,
      options: { ready },
      started: (logs: { stdout: string; stderr: string }) => {
        files = logs;
      },
    };
  }

  /**
   * The Runtime API listens on the bridge's address, which exists once the runtime has attached
   * a container to the bridge: the first time, after the instance prepared ahead has been.
   */
  private async serveLambdaApi(): Promise<void> {
    const api = this.opts.lambdaApi;
    if (!api || api.listening) return;
    await api.start().catch(async () => {
      await this.opts.runtime.prepare(this.createOptions()).catch(() => undefined);
      await api.start().catch(() => undefined);
    });
  }

  private createOptions(): CreateOptions {
    const { fn, image, lambdaApi } = this.opts;
    return {
      image,
      port: fn.port,
      env:
        fn.protocol === 'lambda' && lambdaApi
          ? lambdaEnvironment({ fn, image, runtimeApi: lambdaApi.address, region: lambdaApi.region })
          : // What a handler's runner tells it (the function's name, its time per call; docs/languages.md).
            { ...fn.env, THAW_FUNCTION_NAME: fn.name, THAW_TIMEOUT_MS: String(fn.timeoutMs) },
      memoryMiB: fn.memoryMiB,
      diskMiB: fn.diskMiB,
      readyTimeoutMs: this.opts.startTimeoutMs,
      label: fn.name,
    };
  }

  /** Once the calls that follow a start have had the CPU: one timer however many starts. */
  private prepareSoon(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.prepareNext();
    }, PREPARE_AFTER_START_MS);
    this.timer.unref();
  }

  /** In the background: a failure costs the next start its time, nothing else. */
  private prepareNext(): void {
    if (this.closed) return;
    const { fn, runtime } = this.opts;
    runtime.prepare(this.createOptions()).catch((err: unknown) => {
      this.opts.log.debug({ err, function: fn.name }, 'preparing the next instance failed');
    });
  }
}
