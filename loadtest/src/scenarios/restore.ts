/**
 * `restore` scenario (an experiment, issue #12): is a CRIU restore of a checkpointed, listening
 * instance a faster start than a cold create? Per image, one instance is checkpointed with
 * `runc checkpoint`; then each of RUNS rounds makes a cold instance (create → first response),
 * kills its process and restores the checkpoint into its slot (same bundle, rootfs, network
 * namespace and IP: what a prepared slot gives) under a fresh id (restore → first response).
 * Writes <results>/restore.json. docs/snapshot-restore.md has the verdict.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Container, ImageStore, Runtime, type RuntimeOptions, type StoredImage } from '@thaw/runtime';
import { buildTestImage } from '@thaw/runtime/testimages';
import { envInt, resultsDir } from '../settings.js';
import { median, type Summary, summarize } from '../stats.js';

const run = promisify(execFile);

/** The port both test images listen on. */
const PORT = 8080;
/** How long a re-run instance may take to listen again, and how often that is tried. */
const LISTEN_TIMEOUT_MS = 10_000;
const LISTEN_POLL_MS = 5;

export const RESTORE_IMAGES = ['node-hello', 'busybox-httpd'] as const;
export type RestoreImage = (typeof RESTORE_IMAGES)[number];

export interface RestoreSettings {
  /** Rounds per image: one cold create and one restore each. */
  runs: number;
  resultsDir: string;
  /** The criu binary runc drives (`runc --criu`). */
  criu: string;
  images: readonly RestoreImage[];
}

export function restoreSettings(env: NodeJS.ProcessEnv): RestoreSettings {
  return {
    runs: envInt(env, 'BENCH_RUNS', 20),
    resultsDir: resultsDir(env),
    criu: env.CRIU_BIN || 'criu',
    images: RESTORE_IMAGES,
  };
}

export interface ImageResult {
  /** runtime.create until the first response: the whole cold start. */
  create_first_response: Summary;
  /**
   * The part of it a restore replaces: the same, less the rootfs and network phases (a slot
   * prepared ahead has both; the restore below reuses them).
   */
  create_runtime_app: Summary;
  /** `runc restore` into a slot until the first response. */
  restore_first_response: Summary;
  checkpoint_ms: number;
  image_bytes: number;
  /** The cgroup's memory usage right after the first response, cold and restored (medians). */
  memory_cold_bytes: number;
  memory_restored_bytes: number;
  /**
   * CPU per start (medians): cold, the runtime's phases.cpuMs; restored, runc and criu's rusage
   * plus the restored cgroup's usage at the first response.
   */
  cpu_cold_ms: number;
  cpu_restored_ms: number;
}
export type RestoreResult = Record<RestoreImage, ImageResult>;

/** `criu check` passes with this binary: restore can work on this host at all. */
export async function criuWorks(criu: string): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await run(criu, ['check']);
    return { ok: true, output: `${stdout}${stderr}` };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message };
  }
}

/** One GET on a connection the server closes: a kept-alive one would be an established TCP socket CRIU refuses to dump. */
function getOnce(ip: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: ip, port: PORT, path: '/', agent: false, headers: { connection: 'close' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function firstResponse(ip: string): Promise<void> {
  const deadline = performance.now() + LISTEN_TIMEOUT_MS;
  for (;;) {
    try {
      const status = await getOnce(ip);
      if (status !== 200) throw new Error(`first request answered ${status}`);
      return;
    } catch (err) {
      if (performance.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, LISTEN_POLL_MS));
    }
  }
}

async function du(dir: string): Promise<number> {
  let bytes = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    bytes += e.isDirectory() ? await du(p) : (await stat(p)).size;
  }
  return bytes;
}

/** runc under the runtime's root, with our criu; errors carry runc's log. */
class Runc {
  constructor(private readonly o: { root: string; criu: string; log: string }) {}

  private args(a: string[]): string[] {
    return ['--root', this.o.root, '--criu', this.o.criu, '--log', this.o.log, ...a];
  }

  async cmd(...a: string[]): Promise<string> {
    return (await run('runc', this.args(a))).stdout;
  }

  /**
   * A command whose container keeps runc's stdio: /dev/null, so that nothing waits on a pipe
   * and the dumped process holds no file outside its mounts (the runtime's log files are).
   * Resolves to the CPU milliseconds runc and its children (criu) used: bash waits for them and
   * prints their rusage (`times`) on fd 3, as the runtime measures its own tools.
   */
  detached(...a: string[]): Promise<number> {
    return new Promise((resolve, reject) => {
      const p = spawn('bash', ['-c', CPU_WRAPPER, 'runc', 'runc', ...this.args(a)], {
        stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
      });
      let times = '';
      p.stdio[3]?.on('data', (b: Buffer) => {
        times += b.toString();
      });
      p.on('error', reject);
      p.on('close', (code) =>
        code === 0
          ? resolve(childCpuMs(times))
          : reject(new Error(`runc ${a[0]} exited ${code}; see ${this.o.log}`)),
      );
    });
  }

  /** The container's cgroup: memory charged (bytes) and CPU used (ms). */
  async stats(id: string): Promise<{ memoryBytes: number; cpuMs: number }> {
    const ev = JSON.parse(await this.cmd('events', '--stats', id)) as {
      data?: { memory?: { usage?: { usage?: number } }; cpu?: { usage?: { total?: number } } };
    };
    return {
      memoryBytes: ev.data?.memory?.usage?.usage ?? 0,
      cpuMs: (ev.data?.cpu?.usage?.total ?? 0) / 1e6,
    };
  }
}

/** Runs "$@" with fd 3 closed, then prints the children's rusage to fd 3. */
const CPU_WRAPPER = '"$@" 3>&-; s=$?; times >&3; exit $s';

/** The children's user + system time from bash's `times` (its second line: "0m0.012s 0m0.020s"). */
export function childCpuMs(times: string): number {
  const line = times.trim().split('\n')[1] ?? '';
  let ms = 0;
  for (const m of line.matchAll(/(\d+)m([\d.]+)s/g)) ms += (Number(m[1]) * 60 + Number(m[2])) * 1000;
  return ms;
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Checkpoints one listening instance of `image` into `dir`; its runc container is gone after. */
async function checkpoint(runtime: Runtime, runc: Runc, image: StoredImage, dir: string): Promise<number> {
  const c = await runtime.create({ image, port: PORT });
  try {
    // Re-run under runc with /dev/null for stdio (see Runc.detached), same bundle and network.
    await runc.cmd('delete', '--force', c.id);
    await runc.detached('run', '--detach', '--bundle', c.bundle, c.id);
    await firstResponse(c.ip);
    return await time(() =>
      runc.cmd('checkpoint', '--image-path', join(dir, 'image'), '--work-path', join(dir, 'work'), c.id),
    );
  } finally {
    await runc.cmd('delete', '--force', c.id).catch(() => undefined);
    await c.destroy();
  }
}

async function measureImage(
  runtime: Runtime,
  runc: Runc,
  image: StoredImage,
  dir: string,
  runs: number,
): Promise<ImageResult> {
  const checkpointMs = await checkpoint(runtime, runc, image, dir);
  const cold: number[] = [];
  const coldRuntimeApp: number[] = [];
  const restored: number[] = [];
  const memCold: number[] = [];
  const memRestored: number[] = [];
  const cpuCold: number[] = [];
  const cpuRestored: number[] = [];
  for (let i = 0; i < runs; i++) {
    let c: Container | undefined;
    const restoredId = `r${i}-${Date.now().toString(36)}`;
    try {
      const coldMs = await time(async () => {
        c = await runtime.create({ image, port: PORT });
        await firstResponse(c.ip);
      });
      cold.push(coldMs);
      const slot = c as Container;
      const p = slot.startPhases;
      coldRuntimeApp.push(coldMs - (p?.rootfsMs ?? 0) - (p?.networkMs ?? 0));
      memCold.push((await runc.stats(slot.id)).memoryBytes);
      // The runtime's count: its tools (runc, CNI) and the container's cgroup up to readiness.
      cpuCold.push(p?.cpuMs ?? 0);
      // The slot's process goes; its rootfs, network namespace and IP stay for the restore.
      await runc.cmd('delete', '--force', slot.id);
      const work = join(dir, `restore-${i}`);
      let restoreCpuMs = 0;
      restored.push(
        await time(async () => {
          restoreCpuMs = await runc.detached(
            'restore',
            '--detach',
            '--image-path',
            join(dir, 'image'),
            '--work-path',
            work,
            '--bundle',
            slot.bundle,
            restoredId,
          );
          await firstResponse(slot.ip);
        }),
      );
      const after = await runc.stats(restoredId);
      memRestored.push(after.memoryBytes);
      cpuRestored.push(restoreCpuMs + after.cpuMs);
      await rm(work, { recursive: true, force: true });
    } finally {
      await runc.cmd('delete', '--force', restoredId).catch(() => undefined);
      await c?.destroy();
    }
  }
  return {
    create_first_response: summarize(cold),
    create_runtime_app: summarize(coldRuntimeApp),
    restore_first_response: summarize(restored),
    checkpoint_ms: checkpointMs,
    image_bytes: await du(join(dir, 'image')),
    memory_cold_bytes: median(memCold),
    memory_restored_bytes: median(memRestored),
    cpu_cold_ms: median(cpuCold),
    cpu_restored_ms: median(cpuRestored),
  };
}

/** Opens a runtime on `opts`, measures, and closes it (it removes what it made). */
export async function runRestore(opts: RuntimeOptions, s: RestoreSettings): Promise<RestoreResult> {
  const runc = new Runc({
    root: join(opts.runDir, 'runc'),
    criu: s.criu,
    log: join(opts.stateDir, 'runc.log'),
  });
  let runtime: Runtime | undefined;
  try {
    const check = await criuWorks(s.criu);
    if (!check.ok)
      throw new Error(`criu check failed with ${s.criu}, restore cannot work here:\n${check.output}`);
    ({ runtime } = await Runtime.open(opts));
    const store = new ImageStore(join(opts.stateDir, 'images'));
    const out = {} as RestoreResult;
    for (const name of s.images) {
      const built = await buildTestImage(name, 'oci', join(opts.stateDir, 'archives'));
      const image = await store.importArchive(built.path);
      const r = await measureImage(runtime, runc, image, join(opts.stateDir, `ckpt-${name}`), s.runs);
      out[name] = r;
      console.log(
        `${name.padEnd(14)} create→first p50 ${r.create_first_response.p50_ms.toFixed(1)} ms ` +
          `(runtime+app ${r.create_runtime_app.p50_ms.toFixed(1)})   restore→first p50 ` +
          `${r.restore_first_response.p50_ms.toFixed(1)} ms   checkpoint ${r.checkpoint_ms.toFixed(0)} ms   ` +
          `image ${(r.image_bytes / 2 ** 20).toFixed(1)} MiB   cpu cold ${r.cpu_cold_ms.toFixed(0)} ms, ` +
          `restored ${r.cpu_restored_ms.toFixed(0)} ms   n ${s.runs}`,
      );
    }
    await mkdir(s.resultsDir, { recursive: true });
    await writeFile(join(s.resultsDir, 'restore.json'), `${JSON.stringify(out, null, 2)}\n`);
    console.log(`wrote ${join(s.resultsDir, 'restore.json')}`);
    return out;
  } finally {
    // scratchRuntimeOptions made the state folder: it goes even when the check or open failed.
    await runtime?.close();
    await rm(opts.stateDir, { recursive: true, force: true });
    await rm(opts.runDir, { recursive: true, force: true });
  }
}
