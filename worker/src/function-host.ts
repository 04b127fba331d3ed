import type { Runtime } from '@thaw/runtime';
import { ContainerStartError, type RunnableImage } from '@thaw/runtime';
import type { FunctionRecord, Logger } from '@thaw/shared';
import { ThawError } from '@thaw/shared';
import { Instance } from './instance.js';
import { forward, type InvokeRequest, type InvokeResult } from './proxy.js';

export interface HostOptions {
  freezeAfterMs: number;
  startTimeoutMs: number;
}

/**
 * A function as this worker holds it: one instance for now (pools come later), replaced when it
 * crashes. Requests that arrive while it starts wait for it.
 */
export class FunctionHost {
  private instance: Instance | undefined;
  private starting: Promise<Instance> | undefined;
  private closed = false;

  constructor(
    readonly fn: FunctionRecord,
    private readonly image: RunnableImage,
    private readonly runtime: Runtime,
    private readonly opts: HostOptions,
    private readonly log: Logger,
  ) {}

  /** Starts the first instance and leaves it frozen, so the first request is only a thaw. */
  async warm(): Promise<void> {
    const inst = await this.ready();
    await inst.freezeIfIdle();
  }

  private ready(): Promise<Instance> {
    if (this.instance) return Promise.resolve(this.instance);
    this.starting ??= this.start().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async start(): Promise<Instance> {
    if (this.closed) throw new ThawError('FUNCTION_NOT_FOUND', `function ${this.fn.name} was removed`);
    const t0 = performance.now();
    let container: Awaited<ReturnType<Runtime['create']>>;
    try {
      container = await this.runtime.create({
        image: this.image,
        port: this.fn.port,
        env: this.fn.env,
        memoryMiB: this.fn.memoryMiB,
        readyTimeoutMs: this.opts.startTimeoutMs,
        label: this.fn.name,
      });
    } catch (err) {
      const log =
        err instanceof ContainerStartError && err.log ? `; its output: ${err.log.trim().slice(-500)}` : '';
      throw new ThawError('FUNCTION_START_FAILED', `${(err as Error).message}${log}`, { cause: err });
    }
    const inst = new Instance(container, this.opts.freezeAfterMs, this.log);
    if (this.closed) {
      await inst.destroy();
      throw new ThawError('FUNCTION_NOT_FOUND', `function ${this.fn.name} was removed`);
    }
    this.instance = inst;
    this.log.info(
      { fn: this.fn.name, container: container.id, ip: container.ip, ms: Math.round(performance.now() - t0) },
      'instance started',
    );
    return inst;
  }

  async invoke(req: InvokeRequest): Promise<InvokeResult> {
    let inst: Instance;
    try {
      inst = await this.ready();
    } catch (err) {
      const e = err instanceof ThawError ? err : new ThawError('FUNCTION_START_FAILED', String(err));
      return { ok: false, code: e.code, message: e.message };
    }
    await inst.acquire();
    try {
      const result = await forward(inst, req, this.fn.timeoutMs);
      if (!result.ok && result.crashed) this.replace(inst);
      return result;
    } finally {
      inst.release();
    }
  }

  private replace(dead: Instance): void {
    if (this.instance !== dead) return;
    this.instance = undefined;
    this.log.warn({ fn: this.fn.name, container: dead.container.id }, 'instance crashed; replacing it');
    dead.destroy().catch((err: unknown) => this.log.error({ err }, 'removing a crashed instance failed'));
    if (!this.closed)
      this.ready().catch((err: unknown) => this.log.error({ err }, 'replacement failed to start'));
  }

  /** Resolves once no request is in flight, or after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((this.instance?.busy ?? 0) > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const inst = this.instance ?? (await this.starting?.catch(() => undefined));
    this.instance = undefined;
    await inst?.destroy();
  }
}
