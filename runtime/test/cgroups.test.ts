import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroupfsDriver, V2Handle } from '../src/container/cgroups/index.js';
import { ImageStore, Runtime, type StoredImage, scratchRuntimeOptions } from '../src/index.js';
import { buildTestImage } from '../src/testimages/index.js';
import { frozenOnHost } from './freezer.js';
import { cgroupMounts, leftovers } from './leftovers.js';

const opts = scratchRuntimeOptions('cg');
let runtime: Runtime;
let image: StoredImage;

/** The process's start time in clock ticks, or undefined once /proc has no such pid. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

beforeAll(async () => {
  const built = await buildTestImage('node-hello', 'oci', join(opts.stateDir, 'archives'));
  image = await new ImageStore(join(opts.stateDir, 'images')).importArchive(built.path);
  ({ runtime } = await Runtime.open(opts));
}, 120_000);

afterAll(async () => {
  await runtime?.close();
  await rm(opts.stateDir, { recursive: true, force: true });
  await rm(opts.runDir, { recursive: true, force: true });
});

describe('cgroup drivers', () => {
  it('detects this host: v2 when the root is unified, else v1 (hybrid hosts too)', () => {
    const unified = existsSync('/sys/fs/cgroup/cgroup.controllers');
    expect(cgroupfsDriver().kind).toBe(unified ? 'v2' : 'v1');
  });

  // Pure v2 hosts use this freezer for everything; hybrid hosts (this CI machine) also put
  // every container into the unified tree, so the same code is exercised there for real.
  it('freezes and thaws through cgroup.freeze and reports it in cgroup.events', async () => {
    const c = await runtime.create({ image, port: 8080 });
    try {
      const base = existsSync('/sys/fs/cgroup/cgroup.controllers')
        ? '/sys/fs/cgroup'
        : '/sys/fs/cgroup/unified';
      const v2 = new V2Handle(join(base, opts.cgroupParent, c.id));
      void fetch(`http://${c.ip}:8080/spin?ms=2000`).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
      await v2.freeze();
      expect(v2.isFrozen()).toBe(true);
      const cpu = v2.stats().cpuNs;
      expect(cpu).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 300));
      expect(v2.stats().cpuNs).toBe(cpu);
      await expect(fetch(`http://${c.ip}:8080/`, { signal: AbortSignal.timeout(300) })).rejects.toThrow();
      v2.thaw();
      expect(v2.isFrozen()).toBe(false);
      expect((await fetch(`http://${c.ip}:8080/ok`, { signal: AbortSignal.timeout(5000) })).status).toBe(200);
      v2.close();
    } finally {
      await c.destroy();
    }
  }, 30_000);

  it('destroys a frozen container: its processes, its cgroups in every hierarchy, all it had', async () => {
    const c = await runtime.create({ image, port: 8080 });
    await c.freeze();
    expect(frozenOnHost(runtime.cgroups, opts.cgroupParent, c.id)).toBe(true);
    const mounts = cgroupMounts();
    const dirs = mounts.map((m) => join(m, opts.cgroupParent, c.id));
    const freezer = runtime.cgroups.kind === 'v1' ? 'freezer' : '';
    const procsFile = join('/sys/fs/cgroup', freezer, opts.cgroupParent, c.id, 'cgroup.procs');
    const pids = readFileSync(procsFile, 'utf8').split('\n').filter(Boolean).map(Number);
    expect(pids).toContain(c.pid);
    // Start times tell a pid used again by another process from the container's own.
    const started = new Map(pids.map((p) => [p, startTime(p)]));
    expect(dirs.filter((d) => existsSync(d)).length).toBeGreaterThan(0);

    await c.destroy();

    const deadline = Date.now() + 10_000;
    const alive = () => pids.filter((p) => startTime(p) !== undefined && startTime(p) === started.get(p));
    // Dead processes stay in /proc until the host's init reaps them: a short wait for that.
    while (alive().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(alive()).toEqual([]);
    expect(dirs.filter((d) => existsSync(d))).toEqual([]);
    expect(await leftovers(runtime, opts, 'open')).toEqual([]);
  }, 30_000);
});
