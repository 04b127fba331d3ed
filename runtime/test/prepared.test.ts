import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Container,
  ImageStore,
  Runtime,
  type StoredImage,
  scratchRuntimeOptions,
} from '../src/index.js';
import { buildTestImage } from '../src/testimages/index.js';
import { leftovers } from './leftovers.js';

const opts = { ...scratchRuntimeOptions('prep'), netnsPool: 2 };
let image: StoredImage;

beforeAll(async () => {
  const built = await buildTestImage('busybox-httpd', 'oci', join(opts.stateDir, 'archives'));
  image = await new ImageStore(join(opts.stateDir, 'images')).importArchive(built.path);
}, 120_000);

afterAll(async () => {
  await rm(opts.stateDir, { recursive: true, force: true });
  await rm(opts.runDir, { recursive: true, force: true });
});

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function serves(c: Container): Promise<void> {
  const res = await fetch(`http://${c.ip}:${c.port}/`, { signal: AbortSignal.timeout(5000) });
  expect(res.status).toBe(200);
  expect(await res.text()).toBe('hello from busybox\n');
}

/** The ids of the runtime's network namespaces on the host. */
async function netnsIds(runtime: Runtime): Promise<string[]> {
  const prefix = `${opts.cgroupParent}-`;
  return (await runtime.residue()).netns.map((n) => n.slice(prefix.length));
}

describe('prepared network namespaces and root filesystems', () => {
  it('a start takes a pooled namespace, the pool refills, a prepared rootfs is used, close removes them all', async () => {
    const { runtime } = await Runtime.open(opts);
    try {
      await until(() => runtime.preparedCounts().netns === 2);
      const pooled = await netnsIds(runtime);
      expect(pooled).toHaveLength(2);

      const a = await runtime.create({ image, port: 8080, label: 'a' });
      expect(pooled).toContain(a.id);
      expect(a.startPhases?.networkMs).toBe(0);
      expect(a.startPhases?.rootfsMs).toBeGreaterThan(0);
      // The bundle is the container's now, not the pool's.
      expect(JSON.parse(await readFile(join(a.bundle, 'record.json'), 'utf8'))).toMatchObject({ label: 'a' });
      await serves(a);
      await until(() => runtime.preparedCounts().netns === 2);

      await runtime.prepare({ image, port: 8080 });
      expect(runtime.preparedCounts().rootfs).toBe(1);
      // Created by the OCI runtime ahead, not started: a start only starts it.
      const [preparedId] = (await runtime.residue()).runc.filter((id) => id !== a.id);
      expect(preparedId).toBeDefined();
      const b = await runtime.create({ image, port: 8080 });
      expect(b.id).toBe(preparedId);
      expect(b.startPhases).toMatchObject({ rootfsMs: 0, networkMs: 0 });
      await serves(b);
      // Another disk size is another rootfs: not the prepared one.
      await runtime.prepare({ image, port: 8080 });
      // Other options are another container: not the prepared one.
      const c = await runtime.create({ image, port: 8080, diskMiB: 16 });
      expect(c.startPhases?.rootfsMs).toBeGreaterThan(0);
      expect(runtime.preparedCounts().rootfs).toBe(1);

      // A function that goes takes its prepared container with it.
      await runtime.prepare({ image, port: 8080, env: { GONE: '1' } });
      expect(runtime.preparedCounts().rootfs).toBe(2);
      await runtime.unprepare({ image, port: 8080, env: { GONE: '1' } });
      expect(runtime.preparedCounts().rootfs).toBe(1);
      const d = await runtime.create({ image, port: 8080, env: { OTHER: '1' } });
      expect(d.startPhases?.runtimeMs).toBeGreaterThan(0);
      await Promise.all([a.destroy(), b.destroy(), c.destroy(), d.destroy()]);
      await until(() => runtime.preparedCounts().netns === 2);
      const r = await runtime.residue();
      // What is left on the host while open is the pools' and nothing else: two namespaces and
      // one prepared container.
      expect(r.runc).toHaveLength(1);
      expect(r.bundles).toHaveLength(3);
      expect(r.netns).toHaveLength(3);
    } finally {
      await runtime.close();
    }
    expect(await leftovers(runtime, opts, 'closed')).toEqual([]);
  }, 60_000);

  it('phases of a start without pools are there, positive, and sum to about the total', async () => {
    const plain = { ...scratchRuntimeOptions('prep0'), maxPrepared: 0 };
    const { runtime } = await Runtime.open(plain);
    try {
      const c = await runtime.create({ image, port: 8080 });
      const p = c.startPhases;
      expect(p).toBeDefined();
      if (!p) return;
      for (const k of ['rootfsMs', 'runtimeMs', 'appMs', 'totalMs', 'cpuMs'] as const)
        expect(p[k]).toBeGreaterThan(0);
      expect(p.networkMs).toBeGreaterThanOrEqual(0);
      const sum = p.imageMs + p.rootfsMs + p.networkMs + p.runtimeMs + p.appMs;
      expect(sum).toBeLessThanOrEqual(p.totalMs);
      expect(sum).toBeGreaterThan(p.totalMs * 0.8);
      await c.destroy();
    } finally {
      await runtime.close();
      await rm(plain.stateDir, { recursive: true, force: true });
    }
    expect(await leftovers(runtime, plain, 'closed')).toEqual([]);
  }, 60_000);

  it('a runtime opened after a crash reclaims the pools the crashed one left', async () => {
    const { runtime: crashed } = await Runtime.open(opts);
    await until(() => crashed.preparedCounts().netns === 2);
    await crashed.prepare({ image, port: 8080 });
    // The namespace the prepared container took is replaced in the background: let that end,
    // or the abandoned runtime would make one after the next has reclaimed (a real crash
    // makes nothing more).
    await until(() => crashed.preparedCounts().netns === 2);
    const left = await netnsIds(crashed);
    expect(left).toHaveLength(3);
    expect(crashed.preparedCounts()).toEqual({ netns: 2, rootfs: 1 });
    // The crashed runtime is never closed: the next one finds what it left on the host.
    const { runtime, reclaimed } = await Runtime.open({ ...opts, netnsPool: 0 });
    expect([...reclaimed].sort()).toEqual([...left].sort());
    await runtime.close();
    expect(await leftovers(runtime, opts, 'closed')).toEqual([]);
  }, 60_000);
});
