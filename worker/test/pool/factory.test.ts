import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageStore, Runtime, residueItems, type StoredImage, scratchRuntimeOptions } from '@thaw/runtime';
import { buildTestImage } from '@thaw/runtime/testimages';
import { FunctionRecord } from '@thaw/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerMetrics } from '../../src/metrics/metrics.js';
import { ContainerFactory } from '../../src/pool/factory.js';
import { sample, until } from '../helpers.js';
import { silentLog } from './fakes.js';

const rt = scratchRuntimeOptions('wfac');
let runtime: Runtime;
let image: StoredImage;

beforeAll(async () => {
  const built = await buildTestImage('busybox-httpd', 'oci', join(rt.stateDir, 'archives'));
  image = await new ImageStore(join(rt.stateDir, 'images')).importArchive(built.path);
  ({ runtime } = await Runtime.open(rt));
}, 120_000);

afterAll(async () => {
  await runtime?.close();
  if (runtime) expect(residueItems(await runtime.residue())).toEqual([]);
  await rm(rt.stateDir, { recursive: true, force: true });
});

function record(): FunctionRecord {
  const now = new Date().toISOString();
  return FunctionRecord.parse({
    name: 'fac',
    image: image.digest,
    imageDigest: image.digest,
    port: 8080,
    createdAt: now,
    updatedAt: now,
  });
}

describe('the container factory', () => {
  it('prepares a rootfs when made and after each start, and reports each start phase by phase', async () => {
    const metrics = new WorkerMetrics({
      memory: () => ({ budgetMiB: 0, committedMiB: 0 }),
      functions: () => [],
    });
    const factory = new ContainerFactory({
      fn: record(),
      image,
      runtime,
      startTimeoutMs: 10_000,
      freezeAfterMs: 1000,
      log: silentLog,
      metrics,
    });
    // Made when the function is placed: the first start finds its rootfs ready.
    expect(await until(() => runtime.preparedCounts().rootfs === 1, 10_000)).toBe(true);
    const first = await factory.create();
    expect(first.start).toMatchObject({ imageMs: 0, rootfsMs: 0, networkMs: 0 });
    expect(first.start?.runtimeMs).toBeGreaterThan(0);
    expect(first.start?.cpuMs).toBeGreaterThan(0);
    // ... and the next one is prepared behind it, once the calls that follow a start have had
    // the CPU (PREPARE_AFTER_START_MS), not at once.
    expect(runtime.preparedCounts().rootfs).toBe(0);
    expect(await until(() => runtime.preparedCounts().rootfs === 1, 10_000)).toBe(true);
    const second = await factory.create();
    expect(second.start?.rootfsMs).toBe(0);

    const text = await metrics.registry.metrics();
    for (const phase of ['image', 'rootfs', 'network', 'runtime', 'app']) {
      expect(sample(text, 'thaw_worker_instance_start_phase_seconds_count', { function: 'fac', phase })).toBe(
        2,
      );
    }
    expect(sample(text, 'thaw_worker_instance_start_cpu_seconds_count', { function: 'fac' })).toBe(2);
    const runtimeSum = sample(text, 'thaw_worker_instance_start_phase_seconds_sum', {
      function: 'fac',
      phase: 'runtime',
    });
    expect(runtimeSum).toBeCloseTo(
      ((first.start?.runtimeMs ?? 0) + (second.start?.runtimeMs ?? 0)) / 1000,
      6,
    );
    await Promise.all([first.destroy(), second.destroy()]);
    // When the function goes, its prepared instance goes with it.
    expect(await until(() => runtime.preparedCounts().rootfs === 1, 10_000)).toBe(true);
    await factory.close();
    expect(runtime.preparedCounts().rootfs).toBe(0);
  }, 60_000);
});
