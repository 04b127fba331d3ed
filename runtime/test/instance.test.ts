import { readFileSync, realpathSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Container,
  DEFAULT_DISK_MIB,
  ImageStore,
  Runtime,
  type StoredImage,
  scratchRuntimeOptions,
} from '../src/index.js';
import { type LayerEntry, nodeImage, writeImageArchive } from '../src/testimages/index.js';
import { leftovers } from './leftovers.js';

// What runs as the function: a node server (node, like busybox httpd or python, reaps only the
// children it started itself), with busybox next to it to make orphans and fill the disk.
const server = `
import { execFile, spawnSync } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { createServer } from 'node:http';

function json(res, body) {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function states() {
  const out = {};
  for (const p of readdirSync('/proc').filter((p) => /^\\d+$/.test(p))) {
    try {
      const stat = readFileSync('/proc/' + p + '/stat', 'utf8');
      const s = stat[stat.lastIndexOf(')') + 2];
      out[s] = (out[s] ?? 0) + 1;
    } catch {}
  }
  return out;
}

createServer((req, res) => {
  const url = new URL(req.url, 'http://fn');
  const q = (k) => url.searchParams.get(k) ?? '';
  switch (url.pathname) {
    case '/burst': {
      // Each inner shell starts a sleeper in the background and exits at once: the sleeper is
      // orphaned, handed to PID 1, and becomes a zombie when it ends unless PID 1 waits for it.
      const n = Number(q('n'));
      const script = 'i=0; while [ $i -lt ' + n + ' ]; do sh -c "sleep 0.01 &" || exit 9; i=$((i + 1)); done; echo started=$i';
      execFile('/bin/sh', ['-c', script], (err, stdout, stderr) =>
        json(res, { code: err ? (err.code ?? String(err)) : 0, stdout, stderr }));
      return;
    }
    case '/procs':
      return json(res, { states: states(), pid1: readFileSync('/proc/1/comm', 'utf8').trim() });
    case '/fork': {
      const r = spawnSync('/bin/true');
      return json(res, { status: r.status, error: r.error?.code ?? null });
    }
    case '/lstat':
      try {
        const st = lstatSync(q('path'));
        return json(res, { type: st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other' });
      } catch (err) {
        return json(res, { type: err.code });
      }
    case '/fill': {
      // Appends 1 MiB at a time until the file is mb MiB or a write fails.
      const chunk = Buffer.alloc(1024 * 1024, 7);
      let written = 0;
      try {
        for (; written < Number(q('mb')); written++) appendFileSync(q('path'), chunk);
        return json(res, { written, code: null, message: null });
      } catch (err) {
        return json(res, { written, code: err.code, message: err.message });
      }
    }
    case '/rm':
      rmSync(q('path'), { force: true });
      return json(res, { removed: q('path') });
    default:
      return json(res, { ok: true });
  }
}).listen(Number(process.env.PORT), '0.0.0.0');

process.on('SIGTERM', () => {
  console.log('function got SIGTERM');
  process.exit(7);
});
`;

const busybox: LayerEntry[] = [
  { path: 'bin', type: 'dir', mode: 0o755 },
  { path: 'bin/busybox', type: 'file', mode: 0o755, source: realpathSync('/bin/busybox') },
  ...['sh', 'sleep', 'true'].map(
    (a): LayerEntry => ({ path: `bin/${a}`, type: 'symlink', target: 'busybox' }),
  ),
  // Where the init's mount point goes, the image has a symlink out of the way: the runtime's
  // own mount point in the upper dir must hide it, and runc must not follow it.
  { path: '.thaw', type: 'symlink', target: '/tmp' },
];

const opts = scratchRuntimeOptions('inst');
let runtime: Runtime;
let image: StoredImage;

async function call<T = Record<string, unknown>>(c: Container, path: string): Promise<T> {
  const res = await fetch(`http://${c.ip}:${c.port}${path}`, { signal: AbortSignal.timeout(30_000) });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

function pidsCurrent(c: Container): number {
  const dir =
    runtime.cgroups.kind === 'v1'
      ? join('/sys/fs/cgroup/pids', opts.cgroupParent, c.id)
      : join('/sys/fs/cgroup', opts.cgroupParent, c.id);
  return Number(readFileSync(join(dir, 'pids.current'), 'utf8'));
}

/** The options of the mount at `target`, as the host's mount table shows them. */
function mountOf(target: string): { type: string; options: string } | undefined {
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, mnt, type, options] = line.split(' ');
    if (mnt === target && type && options) return { type, options };
  }
  return undefined;
}

type Procs = { states: Record<string, number>; pid1: string };

beforeAll(async () => {
  const def = nodeImage([{ path: 'app/server.mjs', type: 'file', mode: 0o644, content: server }]);
  def.layers.push({ entries: busybox });
  def.config.Env = ['PATH=/usr/local/bin:/bin', 'PORT=8080'];
  const built = await writeImageArchive(def, 'oci', join(opts.stateDir, 'archives', 'inst.tar'));
  image = await new ImageStore(join(opts.stateDir, 'images')).importArchive(built.path);
  ({ runtime } = await Runtime.open(opts));
}, 120_000);

afterAll(async () => {
  await runtime?.close();
  if (runtime) expect(await leftovers(runtime, opts, 'closed')).toEqual([]);
  await rm(opts.stateDir, { recursive: true, force: true });
  await rm(opts.runDir, { recursive: true, force: true });
});

describe('PID 1 is an init that reaps', () => {
  it('reaps a burst of orphans past the pids limit: no zombie stays, the instance forks and answers', async () => {
    const c = await runtime.create({ image, port: 8080, pidsLimit: 64 });
    try {
      const before = await call<Procs>(c, '/procs');
      // The bind-mounted init, even though the image has a symlink at /.thaw.
      expect(before.pid1).toBe('init');
      expect((await call(c, '/lstat?path=/.thaw')).type).toBe('dir');
      expect((await call(c, '/lstat?path=/tmp/init')).type).toBe('ENOENT');

      // Two bursts of 100 orphans each, 200 in all against a limit of 64 pids: the second one
      // can only start if the first one's zombies were reaped and their pids returned.
      for (const round of [1, 2]) {
        const burst = await call<{ code: unknown; stdout: string; stderr: string }>(c, '/burst?n=100');
        expect(burst, `burst ${round}`).toEqual({ code: 0, stdout: 'started=100\n', stderr: '' });
        // The last sleepers end 10 ms after the burst; tini reaps on SIGCHLD.
        const deadline = Date.now() + 15_000;
        let procs = await call<Procs>(c, '/procs');
        while (((procs.states.Z ?? 0) > 0 || (procs.states.S ?? 0) > 2) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
          procs = await call<Procs>(c, '/procs');
        }
        expect(procs.states.Z ?? 0, `zombies after burst ${round}`).toBe(0);
      }
      // The host's count of the container's pids: tini, node's threads, no zombies.
      expect(pidsCurrent(c)).toBeLessThan(32);
      expect(await call(c, '/fork')).toEqual({ status: 0, error: null });
      expect(await call(c, '/')).toEqual({ ok: true });
    } finally {
      await c.destroy();
    }
    expect(await leftovers(runtime, opts, 'open')).toEqual([]);
  }, 90_000);

  it("forwards SIGTERM to the function's process and exits with its status", async () => {
    // TINI_VERBOSITY=2 makes tini log the status it exits with.
    const c = await runtime.create({ image, port: 8080, env: { TINI_VERBOSITY: '2' } });
    try {
      expect((await call<Procs>(c, '/procs')).pid1).toBe('init');
      // c.pid is the container's PID 1 (tini) as the host sees it.
      process.kill(c.pid, 'SIGTERM');
      expect(await c.waitExit(10_000)).toBe(true);
      const log = await c.readLog();
      expect(log).toContain('function got SIGTERM');
      expect(log).toContain("Main child exited normally (with status '7')");
    } finally {
      await c.destroy();
    }
    expect(await leftovers(runtime, opts, 'open')).toEqual([]);
  }, 60_000);
});

describe('the writable layer has a size bound', () => {
  it('answers ENOSPC past diskMiB, serves on, and leaves no mount after destroy', async () => {
    const c = await runtime.create({ image, port: 8080, diskMiB: 16, memoryMiB: 192 });
    const disk = join(c.bundle, 'disk');
    try {
      const full = await call(c, '/fill?path=/tmp/big&mb=64');
      expect(full).toMatchObject({
        code: 'ENOSPC',
        message: expect.stringMatching(/no space left on device/i),
      });
      expect(full.written).toBeGreaterThanOrEqual(10);
      expect(full.written).toBeLessThanOrEqual(16);
      // Bounded by a tmpfs of that size on the host, not by the host's disk.
      expect(mountOf(disk)).toMatchObject({ type: 'tmpfs', options: expect.stringContaining('size=16384k') });
      // The whole root filesystem shares the bound, not only /tmp.
      expect(await call(c, '/fill?path=/app/more&mb=1')).toMatchObject({ written: 0, code: 'ENOSPC' });
      expect(await call(c, '/')).toEqual({ ok: true });
      // Space comes back when the instance deletes its files.
      await call(c, '/rm?path=/tmp/big');
      expect(await call(c, '/fill?path=/tmp/small&mb=4')).toEqual({ written: 4, code: null, message: null });
    } finally {
      await c.destroy();
    }
    expect(mountOf(disk)).toBeUndefined();
    expect(await leftovers(runtime, opts, 'open')).toEqual([]);
  }, 60_000);

  it('counts its files against memoryMiB too: filling past that is an OOM kill, and the instance exits', async () => {
    // tmpfs pages are charged to the writer's memory cgroup and, with no swap, cannot be
    // reclaimed: 200 MiB of files with 96 MiB of memory end the function, not the host's disk.
    const c = await runtime.create({ image, port: 8080, diskMiB: 256, memoryMiB: 96 });
    try {
      await expect(call(c, '/fill?path=/tmp/big&mb=200')).rejects.toThrow();
      // The init exits with the function it ran, so the instance shows as gone.
      expect(await c.waitExit(10_000)).toBe(true);
      expect(c.oomKilled()).toBe(true);
    } finally {
      await c.destroy();
    }
    expect(await leftovers(runtime, opts, 'open')).toEqual([]);
  }, 60_000);

  it(`defaults to ${DEFAULT_DISK_MIB} MiB`, async () => {
    const c = await runtime.create({ image, port: 8080 });
    try {
      expect(mountOf(join(c.bundle, 'disk'))).toMatchObject({
        type: 'tmpfs',
        options: expect.stringContaining(`size=${DEFAULT_DISK_MIB * 1024}k`),
      });
    } finally {
      await c.destroy();
    }
  }, 30_000);

  it('refuses a diskMiB that is not a positive integer and leaves nothing', async () => {
    await expect(runtime.create({ image, port: 8080, diskMiB: 0 })).rejects.toThrow(/diskMiB/);
    await expect(runtime.create({ image, port: 8080, diskMiB: 1.5 })).rejects.toThrow(/diskMiB/);
    expect(await leftovers(runtime, opts, 'open')).toEqual([]);
  });
});
