import type { Runtime } from '@thaw/runtime';
import { ContainerStartError, type RunnableImage } from '@thaw/runtime';
import type { FunctionRecord, Logger } from '@thaw/shared';
import { ThawError } from '@thaw/shared';
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
}

/** Builds a function's instances as containers of the runtime. */
export class ContainerFactory implements InstanceFactory<Instance> {
  constructor(private readonly opts: ContainerFactoryOptions) {}

  async create(): Promise<Instance> {
    const { fn, image, runtime, starts } = this.opts;
    const create = () =>
      runtime.create({
        image,
        port: fn.port,
        env: fn.env,
        memoryMiB: fn.memoryMiB,
        diskMiB: fn.diskMiB,
        readyTimeoutMs: this.opts.startTimeoutMs,
        label: fn.name,
      });
    try {
      const container = await (starts ? starts.use(create) : create());
      return new Instance({
        container,
        freezeAfterMs: this.opts.freezeAfterMs,
        log: this.opts.log,
        ...(this.opts.metrics ? { metrics: this.opts.metrics } : {}),
      });
    } catch (err) {
      if (err instanceof ThawError) throw err;
      // The container's own output says why it did not start listening.
      const log =
        err instanceof ContainerStartError && err.log ? `; its output: ${err.log.trim().slice(-500)}` : '';
      throw new ThawError('FUNCTION_START_FAILED', `${(err as Error).message}${log}`, { cause: err });
    }
  }
}
