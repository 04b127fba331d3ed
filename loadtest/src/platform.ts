import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Platform, startPlatform, uploadImage, workerEnvFor } from '@thaw/devkit';
import { type RuntimeOptions, scratchRuntimeOptions } from '@thaw/runtime';
import { buildTestImage, type TestImageName } from '@thaw/runtime/testimages';
import { parseSamples, type Sample } from './promtext.js';

/** A platform on a scratch runtime of its own, for one or several scenarios. */
export interface BenchPlatform {
  readonly platform: Platform;
  readonly rt: RuntimeOptions;
  /**
   * The digest of a test image, built and uploaded on first use only: uploading node-hello
   * takes seconds, and scenarios sharing a platform need it once.
   */
  image(name: TestImageName): Promise<string>;
  /** Stops the platform (its worker removes its containers), then the runtime's folders. */
  close(): Promise<void>;
}

/**
 * Subnets for full-size runs, whose pools outgrow the scratch runtime's /24 (254 addresses);
 * one each, so two scenarios can run side by side.
 */
export const WIDE_SUBNETS = {
  cold: '10.231.0.0/16',
  burst: '10.232.0.0/16',
  density: '10.233.0.0/16',
  trace: '10.234.0.0/16',
};

/** `workerEnv` comes on top of the scratch runtime's own (folders, cgroup parent, bridge, subnet). */
export async function openBenchPlatform(
  tag: string,
  workerEnv: Record<string, string> = {},
): Promise<BenchPlatform> {
  const rt = scratchRuntimeOptions(tag);
  const removeFolders = async () => {
    await rm(rt.stateDir, { recursive: true, force: true });
    await rm(rt.runDir, { recursive: true, force: true });
  };
  let platform: Platform;
  try {
    platform = await startPlatform({
      gatewayPort: 0,
      prefix: tag,
      logs: 'buffer',
      logLevel: 'warn',
      workerEnv: { ...workerEnvFor(rt), ...workerEnv },
    });
  } catch (e) {
    await removeFolders();
    throw e;
  }
  let closing: Promise<void> | undefined;
  const images = new Map<TestImageName, Promise<string>>();
  return {
    platform,
    rt,
    image(name) {
      let digest = images.get(name);
      if (!digest) {
        digest = (async () => {
          const built = await buildTestImage(name, 'oci', join(rt.stateDir, 'archives'));
          return (await uploadImage(platform.gatewayUrl, built.path, platform.token)).digest;
        })();
        // A failed upload is tried again by the next scenario rather than remembered.
        digest.catch(() => images.delete(name));
        images.set(name, digest);
      }
      return digest;
    },
    close() {
      closing ??= (async () => {
        try {
          await platform.close();
        } finally {
          await removeFolders();
        }
      })();
      return closing;
    },
  };
}

/** Runs a scenario program on a platform of its own and always closes it. */
export async function onBenchPlatform<T>(
  tag: string,
  workerEnv: Record<string, string>,
  run: (b: BenchPlatform) => Promise<T>,
): Promise<T> {
  const b = await openBenchPlatform(tag, workerEnv);
  try {
    return await run(b);
  } finally {
    await b.close();
  }
}

/** The samples of the platform's worker's GET /metrics (its counters of starts, calls, removals). */
export async function workerSamples(platform: Platform): Promise<Sample[]> {
  if (!platform.workerMetricsUrl) throw new Error('the platform has no worker metrics URL');
  const res = await fetch(platform.workerMetricsUrl);
  if (res.status !== 200) throw new Error(`${platform.workerMetricsUrl}: ${res.status}`);
  return parseSamples(await res.text());
}

/** Waits until the worker's heartbeat lists no function, so closing it has nothing to remove. */
export async function untilNoInstances(platform: Platform, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    const body = (await platform.api.GET('/v1/workers').catch(() => undefined))?.data;
    const left = body?.workers
      .flatMap((w) => w.functions)
      .reduce((n, f) => n + f.instances.length + f.starting, 0);
    if (left === 0) return;
    await new Promise((r) => setTimeout(r, 500));
  }
}
