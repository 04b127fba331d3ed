import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Container,
  ImageStore,
  Runtime,
  residueItems,
  type StoredImage,
  scratchRuntimeOptions,
} from '../src/index.js';
import { buildTestImage, writeImageArchive } from '../src/testimages/index.js';
import { frozenOnHost } from './freezer.js';
import { leftovers } from './leftovers.js';

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
    // Security settings as the process sees them: seccomp filter on, no new privileges, and
    // only the default capabilities (CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID NET_BIND_SERVICE).
    const status = (await (await get(c, '/status')).json()) as Record<string, string>;
    expect(status).toMatchObject({ Seccomp: '2', NoNewPrivs: '1', CapEff: '00000000000004fb' });
    const env = (await (await get(c, '/env')).json()) as Record<string, string>;
    expect(env.GREETING).toBe('hi');
    expect(env.PORT).toBe('8080');

    // Keep the CPU busy inside, then freeze: the cgroup's CPU time must stop growing.
    void get(c, '/spin?ms=3000', 10_000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    await c.freeze();
    expect(c.state).toBe('frozen');
    expect(frozenOnHost(runtime.cgroups, opts.cgroupParent, c.id)).toBe(true);
    const before = c.stats().cpuNs;
    await new Promise((r) => setTimeout(r, 300));
    expect(c.stats().cpuNs).toBe(before);
    await expect(get(c, '/', 300)).rejects.toThrow();

    c.thaw();
    expect(c.state).toBe('running');
    expect(frozenOnHost(runtime.cgroups, opts.cgroupParent, c.id)).toBe(false);
    const again = await get(c, '/after-thaw');
    expect(again.status).toBe(200);

    await c.destroy();
    expect(c.state).toBe('destroyed');
    // The bridge's firewall stays while the runtime is open; everything of the container goes.
    expect(residueItems(await runtime.residue())).toEqual([`firewall: ${opts.bridge}`]);
    expect(await leftovers(runtime, opts, 'open')).toEqual([]);
  }, 60_000);

  it('freezes for real between the rounds of a freeze/thaw cycle', async () => {
    const c = await runtime.create({ image, port: 8080 });
    try {
      for (let round = 1; round <= 5; round++) {
        expect((await get(c, `/round/${round}`)).status).toBe(200);
        await c.freeze();
        // The host's freezer file, not the runtime's bookkeeping, and a request that gets no
        // answer while it says so.
        expect(frozenOnHost(runtime.cgroups, opts.cgroupParent, c.id)).toBe(true);
        const blocked = get(c, `/while-frozen/${round}`, 200);
        await expect(blocked).rejects.toThrow();
        expect(frozenOnHost(runtime.cgroups, opts.cgroupParent, c.id)).toBe(true);
        c.thaw();
        expect(frozenOnHost(runtime.cgroups, opts.cgroupParent, c.id)).toBe(false);
      }
      expect((await get(c, '/after-cycles')).status).toBe(200);
    } finally {
      await c.destroy();
    }
    expect(await leftovers(runtime, opts, 'open')).toEqual([]);
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
    expect(await leftovers(runtime, opts, 'open')).toEqual([]);
  }, 30_000);

  it('runs a non-root user without capabilities', async () => {
    const c = await runtime.create({ image, port: 8080, user: 'app' });
    try {
      const status = (await (await get(c, '/status')).json()) as Record<string, unknown>;
      expect(status).toMatchObject({
        uid: 1000,
        CapEff: '0000000000000000',
        CapBnd: '0000000000000000',
        NoNewPrivs: '1',
      });
    } finally {
      await c.destroy();
    }
  }, 30_000);

  it('mounts a read-only root filesystem with a writable /tmp when asked', async () => {
    const write = async (c: Container, path: string) =>
      ((await (await get(c, `/write?path=${path}`)).json()) as { result: string }).result;
    const ro = await runtime.create({ image, port: 8080, readOnlyRootfs: true });
    const rw = await runtime.create({ image, port: 8080 });
    try {
      expect(await write(ro, '/app/x')).toBe('EROFS');
      expect(await write(ro, '/tmp/x')).toBe('written');
      expect(await write(rw, '/app/x')).toBe('written');
    } finally {
      await ro.destroy();
      await rw.destroy();
    }
  }, 30_000);

  it('applies the CPU quota and pids limit', async () => {
    const c = await runtime.create({ image, port: 8080, cpus: 0.5, pidsLimit: 64 });
    try {
      const path = `${opts.cgroupParent}/${c.id}`;
      if (runtime.cgroups.kind === 'v1') {
        expect(readFileSync(`/sys/fs/cgroup/cpu/${path}/cpu.cfs_quota_us`, 'utf8').trim()).toBe('50000');
        expect(readFileSync(`/sys/fs/cgroup/pids/${path}/pids.max`, 'utf8').trim()).toBe('64');
      } else {
        expect(readFileSync(`/sys/fs/cgroup/${path}/cpu.max`, 'utf8').trim()).toBe('50000 100000');
        expect(readFileSync(`/sys/fs/cgroup/${path}/pids.max`, 'utf8').trim()).toBe('64');
      }
    } finally {
      await c.destroy();
    }
  }, 30_000);

  it('marks an instance killed for exceeding its memory limit', async () => {
    const c = await runtime.create({ image, port: 8080, memoryMiB: 64 });
    try {
      await expect(get(c, '/alloc?mb=256', 10_000)).rejects.toThrow();
      expect(await c.waitExit(2000)).toBe(true);
      expect(c.oomKilled()).toBe(true);
    } finally {
      await c.destroy();
    }
  }, 30_000);

  it.each([
    ['/proc/self/fd/7', /inside \/proc/],
    ['relative/dir', /not an absolute path/],
    ['/app/../proc', /not an absolute path/],
  ])('refuses WorkingDir %s and leaves nothing', async (workingDir, message) => {
    const bad = { ...image, config: { ...image.config, workingDir } };
    await expect(runtime.create({ image: bad, port: 8080 })).rejects.toThrow(message);
    expect(await leftovers(runtime, opts, 'open')).toEqual([]);
  });

  it('refuses an image whose /dev is a symlink', async () => {
    const evil = await writeImageArchive(
      { layers: [{ entries: [{ path: 'dev', type: 'symlink', target: '/tmp' }] }], config: { Cmd: ['/x'] } },
      'oci',
      join(opts.stateDir, 'evil.tar'),
    );
    const evilImage = await new ImageStore(join(opts.stateDir, 'images')).importArchive(evil.path);
    await expect(
      runtime.create({ image: { ...evilImage, layers: [...image.layers, ...evilImage.layers] }, port: 8080 }),
    ).rejects.toThrow(/\/dev is a symlink/);
    expect(await leftovers(runtime, opts, 'open')).toEqual([]);
  });

  it('keeps instances away from host services and from each other', async () => {
    const a = await runtime.create({ image, port: 8080 });
    const b = await runtime.create({ image, port: 8080 });
    const hostServer = createServer((s) => s.end('host service\n'));
    await new Promise<void>((r) => hostServer.listen(0, '::', r));
    const port = (hostServer.address() as AddressInfo).port;
    const bridgeIp = opts.subnet.replace(/0\/24$/, '1');
    try {
      const probe = async (host: string, p: number) =>
        ((await (await get(a, `/connect?host=${host}&port=${p}&timeout=700`)).json()) as { result: string })
          .result;
      // The host reaches the instances...
      expect((await get(b, '/')).status).toBe(200);
      // ...but an instance reaches neither a host service on the bridge address, nor its own
      // worker's side of things, nor another instance.
      expect(await probe(bridgeIp, port)).not.toBe('connected');
      expect(await probe(b.ip, 8080)).not.toBe('connected');
      // Nor over IPv6: the bridge's link-local address (every interface has one unless IPv6 is
      // off) reaches a host service listening on "::" unless the firewall drops IPv6 too.
      const linkLocal = /inet6 (fe80::[0-9a-f:]+)\//.exec(
        execFileSync('ip', ['-6', 'addr', 'show', 'dev', opts.bridge], { encoding: 'utf8' }),
      )?.[1];
      expect(linkLocal, 'the bridge has an IPv6 link-local address to probe').toBeDefined();
      expect(await probe(encodeURIComponent(`${linkLocal}%eth0`), port)).not.toBe('connected');
      // Its own server, over loopback, is fine: the probe itself works.
      expect(await probe('127.0.0.1', 8080)).toBe('connected');
    } finally {
      hostServer.close();
      await a.destroy();
      await b.destroy();
    }
  }, 30_000);

  it('reclaims what a crashed runtime left', async () => {
    const c = await runtime.create({ image, port: 8080 });
    await c.freeze();
    // A second runtime on the same state, as after a crash of the first, finds and removes it.
    const { runtime: again, reclaimed } = await Runtime.open(opts);
    expect(reclaimed).toContain(c.id);
    expect(await leftovers(again, opts, 'open')).toEqual([]);
  }, 30_000);

  it('leaves nothing at all, firewall and bridge included, once closed', async () => {
    await runtime.close();
    expect(await leftovers(runtime, opts, 'closed')).toEqual([]);
    expect(execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' })).not.toContain(` ${opts.bridge}:`);
  }, 30_000);
});
