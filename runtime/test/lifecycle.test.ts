import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestImage } from '../src/build/index.js';
import {
  type Container,
  ImageStore,
  Runtime,
  type StoredImage,
  scratchRuntimeOptions,
} from '../src/index.js';

const opts = scratchRuntimeOptions('life');
let runtime: Runtime;
let image: StoredImage;

async function get(c: Container, path: string, timeoutMs = 5000): Promise<Response> {
  return await fetch(`http://${c.ip}:${c.port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
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

describe('container lifecycle', () => {
  it('create → request → freeze → thaw → request → destroy leaves nothing', async () => {
    const c = await runtime.create({ image: image, port: 8080, env: { GREETING: 'hi' }, memoryMiB: 128 });
    expect(c.ip).toMatch(/^10\.\d+\.\d+\.\d+$/);

    const first = await get(c, '/echo/path?x=1');
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ method: 'GET', path: '/echo/path', query: { x: '1' } });
    const env = (await (await get(c, '/env')).json()) as Record<string, string>;
    expect(env.GREETING).toBe('hi');
    expect(env.PORT).toBe('8080');

    // Keep the CPU busy inside, then freeze: the cgroup's CPU time must stop growing.
    void get(c, '/spin?ms=3000', 10_000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    await c.freeze();
    expect(c.state).toBe('frozen');
    const before = c.stats().cpuNs;
    await new Promise((r) => setTimeout(r, 300));
    expect(c.stats().cpuNs).toBe(before);
    await expect(get(c, '/', 300)).rejects.toThrow();

    c.thaw();
    expect(c.state).toBe('running');
    const again = await get(c, '/after-thaw');
    expect(again.status).toBe(200);

    await c.destroy();
    expect(c.state).toBe('destroyed');
    expect(await runtime.residue()).toEqual({
      mounts: [],
      netns: [],
      veths: [],
      cgroups: [],
      ips: [],
      runc: [],
      bundles: [],
    });
  }, 60_000);

  it('a failing start gives a clear error and leaves nothing', async () => {
    await expect(
      runtime.create({
        image,
        port: 8080,
        args: ['/usr/local/bin/node', '-e', 'process.exit(3)'],
        readyTimeoutMs: 5000,
      }),
    ).rejects.toThrow(/exited before it listened/);
    const r = await runtime.residue();
    expect([...r.mounts, ...r.netns, ...r.veths, ...r.cgroups, ...r.ips, ...r.runc, ...r.bundles]).toEqual(
      [],
    );
  }, 30_000);

  it('reclaims what a crashed runtime left', async () => {
    const c = await runtime.create({ image, port: 8080 });
    await c.freeze();
    // A second runtime on the same state, as after a crash of the first, finds and removes it.
    const { runtime: again, reclaimed } = await Runtime.open(opts);
    expect(reclaimed).toContain(c.id);
    const r = await again.residue();
    expect([...r.mounts, ...r.netns, ...r.veths, ...r.cgroups, ...r.ips, ...r.runc, ...r.bundles]).toEqual(
      [],
    );
  }, 30_000);
});
