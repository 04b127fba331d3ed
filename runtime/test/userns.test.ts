import { randomInt } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
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
import { frozenOnHost } from './freezer.js';
import { leftovers } from './leftovers.js';

// Its own range, away from other test runtimes that may run at the same time.
const hostId = 65536 * randomInt(4, 60);
const opts = { ...scratchRuntimeOptions('userns'), userns: { hostId } };
let runtime: Runtime;
let node: StoredImage;
let busybox: StoredImage;

async function get(c: Container, path: string, timeoutMs = 5000): Promise<Response> {
  return await fetch(`http://${c.ip}:${c.port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
}

/** The Uid line of a process as the host's /proc shows it: real, effective, saved, fs. */
function hostUids(pid: number): number[] {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Uid:'));
  return (line ?? '').split(/\s+/).slice(1).filter(Boolean).map(Number);
}

/** PID 1 of the container (the init) and its children, by host pid. */
function containerPids(c: Container): number[] {
  const children = readFileSync(`/proc/${c.pid}/task/${c.pid}/children`, 'utf8').trim().split(' ');
  return [c.pid, ...children.filter(Boolean).map(Number)];
}

beforeAll(async () => {
  const store = new ImageStore(join(opts.stateDir, 'images'));
  node = await store.importArchive(
    (await buildTestImage('node-hello', 'oci', join(opts.stateDir, 'a'))).path,
  );
  busybox = await store.importArchive(
    (await buildTestImage('busybox-httpd', 'oci', join(opts.stateDir, 'a'))).path,
  );
  ({ runtime } = await Runtime.open(opts));
}, 120_000);

afterAll(async () => {
  await runtime?.close();
  await rm(opts.stateDir, { recursive: true, force: true });
  await rm(opts.runDir, { recursive: true, force: true });
});

describe('user namespaces (RuntimeOptions.userns)', () => {
  it('root inside is the mapped unprivileged uid on the host, and owns what it writes', async () => {
    const c = await runtime.create({ image: node, port: 8080 });
    try {
      const status = (await (await get(c, '/status')).json()) as Record<string, unknown>;
      // Inside: root, with the usual capabilities, seccomp and no-new-privileges.
      expect(status).toMatchObject({
        uid: 0,
        Uid: '0\t0\t0\t0',
        Gid: '0\t0\t0\t0',
        CapEff: '00000000000004fb',
      });
      expect(status.NoNewPrivs).toBe('1');

      // On the host: the init and the function both run as the first id of the range.
      const pids = containerPids(c);
      expect(pids.length).toBeGreaterThanOrEqual(2);
      for (const pid of pids) expect(hostUids(pid)).toEqual([hostId, hostId, hostId, hostId]);

      // The image's root-owned /app is writable by container root only because the layers it
      // sees are owned by the range; the new file lands in the writable layer as the mapped id.
      expect(((await (await get(c, '/write?path=/app/made')).json()) as { result: string }).result).toBe(
        'written',
      );
      expect(((await (await get(c, '/write?path=/tmp/t')).json()) as { result: string }).result).toBe(
        'written',
      );
      for (const f of ['app/made', 'tmp/t']) {
        const st = statSync(join(c.bundle, 'disk', 'upper', f));
        expect([st.uid, st.gid]).toEqual([hostId, hostId]);
      }
      // The host's own files are not container root's: /proc/sys is read-only and host root's
      // files outside the range stay nobody's.
      expect(((await (await get(c, '/write?path=/.thaw/init')).json()) as { result: string }).result).toMatch(
        /EROFS|EACCES|EPERM/,
      );

      // Freezing works the same on a container in a user namespace.
      await c.freeze();
      expect(frozenOnHost(runtime.cgroups, opts.cgroupParent, c.id)).toBe(true);
      c.thaw();
      expect((await get(c, '/after-thaw')).status).toBe(200);
    } finally {
      await c.destroy();
    }
    expect(await leftovers(runtime, opts, 'open')).toEqual([]);
  }, 60_000);

  it('maps an image user, and serves busybox httpd on a low port', async () => {
    const app = await runtime.create({ image: node, port: 8080, user: 'app' });
    // Port 80 needs the netns's sysctl: root of a user namespace has no NET_BIND_SERVICE in a
    // network namespace the host's user namespace owns.
    const bb = await runtime.create({ image: busybox, port: 80 });
    try {
      const status = (await (await get(app, '/status')).json()) as Record<string, unknown>;
      expect(status.uid).toBe(1000);
      const fn = containerPids(app).at(-1) ?? 0;
      expect(hostUids(fn)).toEqual([hostId + 1000, hostId + 1000, hostId + 1000, hostId + 1000]);
      const res = await get(bb, '/');
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('hello from busybox\n');
      for (const pid of containerPids(bb)) expect(hostUids(pid)[0]).toBe(hostId);
    } finally {
      await app.destroy();
      await bb.destroy();
    }
    expect(await leftovers(runtime, opts, 'open')).toEqual([]);
  }, 60_000);

  it('close removes the containers and the layers owned by the range', async () => {
    await runtime.create({ image: busybox, port: 8080 });
    const copies = join(opts.stateDir, 'userns-layers');
    expect(existsSync(copies)).toBe(true);
    await runtime.close();
    expect(existsSync(copies)).toBe(false);
    expect(await leftovers(runtime, opts, 'closed')).toEqual([]);
  }, 60_000);
});
