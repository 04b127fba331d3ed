import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join, posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isRunning, run, waitPidExit } from '../process/index.js';
import {
  type CgroupDriver,
  type CgroupHandle,
  type CgroupManager,
  type CgroupStats,
  createCgroupDriver,
} from './cgroups/index.js';
import { BridgeFirewall, CniNetwork, type Egress, type NetworkDriver } from './network/index.js';
import { createOciRuntime, type OciRuntime, type OciRuntimeName } from './oci/index.js';
import { isMounted, mountOverlay, mountTmpfs, unmount } from './overlay.js';
import { findResidue, type HostResidue } from './residue.js';
import { buildSpec, INIT_PATH } from './spec.js';
import { checkMapping, ShiftedLayers, shiftTree, type UsernsMapping } from './userns.js';

/** The parts of an imported image a container needs (ImageStore's StoredImage fits). */
export interface RunnableImage {
  layers: string[];
  config: { entrypoint: string[]; cmd: string[]; env: string[]; workingDir: string; user: string };
}

export interface RuntimeOptions {
  /** Persistent state: one bundle folder per container. */
  stateDir: string;
  /** Volatile state (runc's root, IP allocations); keep it on tmpfs such as /run. */
  runDir: string;
  /** cgroup parent of every container, e.g. "thaw"; one per runtime on a host. */
  cgroupParent: string;
  bridge: string;
  subnet: string;
  cniPath?: string;
  /** The OCI runtime that starts containers: runc (default) or crun. */
  ociRuntime?: OciRuntimeName;
  /**
   * Who makes the containers' cgroups: the OCI runtime through cgroupfs (default; v1, hybrid
   * and v2 hosts), or systemd (pure v2 hosts only).
   */
  cgroupManager?: CgroupManager;
  /** What instances may reach beyond the host: nothing (default), or anything, masqueraded. */
  egress?: Egress;
  /**
   * A statically linked init on the host, bind-mounted read-only into every container as its
   * PID 1 (default: Debian's tini-static, from the `tini` package).
   */
  init?: string;
  /**
   * Opt-in: run every container in its own user namespace, its ids 0..size-1 mapped to host ids
   * hostId.. (e.g. `{ hostId: 100000 }`), so that root in the container is an unprivileged user
   * on the host. Give each runtime on a host its own range. Layers are used through copies owned
   * by the range, made once per layer (see docs/userns.md for the cost).
   */
  userns?: UsernsMapping;
}

export const DEFAULT_INIT = '/usr/bin/tini-static';
export const DEFAULT_DISK_MIB = 256;

export interface CreateOptions {
  image: RunnableImage;
  /** The port the server listens on, passed as $PORT. */
  port: number;
  env?: Record<string, string>;
  memoryMiB?: number;
  pidsLimit?: number;
  cpus?: number;
  /** Replaces the image's Entrypoint + Cmd. */
  args?: string[];
  /** How long the server has to accept connections on its port. */
  readyTimeoutMs?: number;
  /** Short label kept in the record, e.g. the function name. */
  label?: string;
  /** Replaces the image's User ("uid[:gid]" or a name from the image's /etc/passwd). */
  user?: string;
  /** Mount the root filesystem read-only (a 64 MiB tmpfs at /tmp stays writable). */
  readOnlyRootfs?: boolean;
  /**
   * Size bound of the writable layer, in MiB (default 256): everything the instance writes to
   * its root filesystem beyond what the image holds (/tmp too, unless `readOnlyRootfs` gives it
   * a tmpfs of its own). Past it writes fail with
   * ENOSPC. The layer is a tmpfs, so it never reaches the host's disk; its pages are charged to
   * the instance's memory cgroup, so files it keeps count against `memoryMiB` too, and with no
   * swap allowed an instance whose files and memory together pass `memoryMiB` is OOM-killed
   * before it sees ENOSPC. In effect files are bounded by `diskMiB`, and files plus memory by
   * `memoryMiB`.
   */
  diskMiB?: number;
}

function logPathsOf(bundle: string): { stdout: string; stderr: string } {
  return { stdout: join(bundle, 'stdout.log'), stderr: join(bundle, 'stderr.log') };
}

async function readLogs(bundle: string, maxBytes: number): Promise<string> {
  const p = logPathsOf(bundle);
  const [out, err] = await Promise.all([
    readFile(p.stdout, 'utf8').catch(() => ''),
    readFile(p.stderr, 'utf8').catch(() => ''),
  ]);
  return out.slice(-maxBytes) + err.slice(-maxBytes);
}

export class ContainerStartError extends Error {
  override readonly name = 'ContainerStartError';
  constructor(
    message: string,
    readonly log: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type ContainerState = 'running' | 'frozen' | 'destroyed';

export class Container {
  private handle: CgroupHandle | undefined;
  private _state: ContainerState = 'running';
  private destroying: Promise<void> | undefined;

  constructor(
    readonly id: string,
    readonly ip: string,
    readonly port: number,
    readonly pid: number,
    readonly bundle: string,
    private readonly runtime: Runtime,
  ) {}

  get state(): ContainerState {
    return this._state;
  }
  /** Files the container's stdout and stderr are appended to. */
  get logPaths(): { stdout: string; stderr: string } {
    return logPathsOf(this.bundle);
  }

  /** @internal */
  attachCgroup(handle: CgroupHandle): void {
    this.handle = handle;
  }

  async freeze(timeoutMs?: number): Promise<void> {
    if (this._state !== 'running' || !this.handle) return;
    await this.handle.freeze(timeoutMs);
    this._state = 'frozen';
  }

  thaw(): void {
    if (this._state !== 'frozen' || !this.handle) return;
    this.handle.thaw();
    this._state = 'running';
  }

  /**
   * Whether the container's init process still runs. It is not our child (runc detached it),
   * so there is no exit event; a zombie waiting for the host's init to reap it counts as dead.
   */
  isAlive(): boolean {
    return this._state !== 'destroyed' && isRunning(this.pid);
  }

  /** Waits up to `ms` for the process to exit; true when it has. */
  async waitExit(ms: number): Promise<boolean> {
    return this._state === 'destroyed' || (await waitPidExit(this.pid, ms, 5));
  }

  /** True when the kernel killed a process of this container for exceeding its memory limit. */
  oomKilled(): boolean {
    try {
      return (this.handle?.oomKills() ?? 0) > 0;
    } catch {
      return false;
    }
  }

  stats(): CgroupStats {
    return this.handle?.stats() ?? { cpuNs: 0, memoryBytes: 0, memoryPeakBytes: 0 };
  }

  /** The last output: stdout's tail, then stderr's (each up to `maxBytes`). */
  async readLog(maxBytes = 64 * 1024): Promise<string> {
    return readLogs(this.bundle, maxBytes);
  }

  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      try {
        // runc kills frozen containers too, but a thawed one dies without waiting on the freezer.
        if (this._state === 'frozen') this.handle?.thaw();
      } catch {
        // The cgroup is gone already (removed from outside): nothing to thaw.
      }
      this.handle?.close();
      this._state = 'destroyed';
      await this.runtime.remove(this.id);
    })();
    return this.destroying;
  }
}

async function waitListening(
  ip: string,
  port: number,
  timeoutMs: number,
  alive: () => boolean,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let delay = 1;
  while (performance.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect({ host: ip, port });
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    if (!alive()) throw new Error('the container exited before it listened');
    await sleep(delay);
    delay = Math.min(delay * 2, 20);
  }
  throw new Error(`nothing listened on port ${port} within ${timeoutMs} ms`);
}

/**
 * The working directory must be a plain absolute path outside the kernel's filesystems: runc
 * enters it before the process runs, and a cwd like /proc/self/fd/7 is how CVE-2024-21626
 * leaked a host directory into a container.
 */
export function checkWorkingDir(dir: string): string {
  if (!dir) return '/';
  const norm = posix.normalize(dir);
  if (!posix.isAbsolute(norm) || dir.split('/').includes('..')) {
    throw new ContainerStartError(`the image's WorkingDir "${dir}" is not an absolute path`, '');
  }
  if (/^\/(proc|sys|dev)(\/|$)/.test(norm)) {
    throw new ContainerStartError(
      `the image's WorkingDir "${dir}" is inside /proc, /sys or /dev; refused`,
      '',
    );
  }
  return norm;
}

/**
 * Lets any user pass (not list) the folders from / down to `dir`, as runc needs to reach a
 * bundle's rootfs as container root, a host user of its own: the runtime's own folders from
 * `own` down get o+x, and an ancestor above them without it is an error to fix on the host.
 */
async function openPathTo(dir: string, own: string): Promise<void> {
  for (let d = dir; ; d = dirname(d)) {
    const st = await stat(d);
    if (!(st.mode & 0o001)) {
      if (d.length < own.length) {
        throw new Error(
          `userns: container root cannot pass ${d} (mode ${(st.mode & 0o777).toString(8)}) on the way to ${dir}; give it o+x or choose another stateDir`,
        );
      }
      await chmod(d, (st.mode & 0o7777) | 0o001);
    }
    if (d === dirname(d)) return;
  }
}

/** /proc, /sys and /dev get mounted over: as symlinks they would point runc's mounts elsewhere. */
async function checkRootfs(rootfs: string): Promise<void> {
  for (const d of ['proc', 'sys', 'dev']) {
    const st = await lstat(join(rootfs, d)).catch(() => undefined);
    if (st && !st.isDirectory()) {
      throw new ContainerStartError(
        `the image's /${d} is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}; refused`,
        '',
      );
    }
  }
}

/**
 * thaw's embedded container runtime: overlayfs rootfs, an OCI spec with secure defaults, runc,
 * a CNI network namespace and the cgroup freezer. It keeps no daemon: every container has a
 * bundle folder on disk, which is also how a restarted runtime finds what a crashed one left.
 */
export class Runtime {
  readonly cgroups: CgroupDriver;
  private readonly oci: OciRuntime;
  private readonly network: NetworkDriver;
  private readonly containers = new Map<string, Container>();
  private readonly containersDir: string;
  private readonly firewall: BridgeFirewall;
  private readonly init: string;
  private readonly userns: Required<UsernsMapping> | undefined;
  private readonly shifted: ShiftedLayers | undefined;

  private constructor(private readonly opts: RuntimeOptions) {
    this.init = opts.init ?? DEFAULT_INIT;
    this.userns = opts.userns ? checkMapping(opts.userns) : undefined;
    if (this.userns) this.shifted = new ShiftedLayers(join(opts.stateDir, 'userns-layers'), this.userns);
    this.cgroups = createCgroupDriver(opts.cgroupManager);
    const oci = opts.ociRuntime ?? 'runc';
    this.oci = createOciRuntime(oci, {
      root: join(opts.runDir, oci),
      systemdCgroup: this.cgroups.manager === 'systemd',
    });
    this.network = new CniNetwork({
      bridge: opts.bridge,
      subnet: opts.subnet,
      cniPath: opts.cniPath ?? '/usr/lib/cni',
      ipamDir: join(opts.runDir, 'ipam'),
      netnsPrefix: opts.cgroupParent,
    });
    this.containersDir = join(opts.stateDir, 'containers');
    this.firewall = new BridgeFirewall(opts.bridge, opts.subnet, opts.egress ?? 'off');
  }

  /** Opens the runtime and removes whatever an earlier, crashed runtime with this state left. */
  static async open(opts: RuntimeOptions): Promise<{ runtime: Runtime; reclaimed: string[] }> {
    const runtime = new Runtime(opts);
    try {
      accessSync(runtime.init, constants.X_OK);
    } catch {
      throw new Error(
        `the container init ${runtime.init} is missing or not executable: install Debian's tini package (infra/setup.sh does)`,
      );
    }
    await mkdir(runtime.containersDir, { recursive: true });
    if (runtime.userns) await openPathTo(runtime.containersDir, opts.stateDir);
    await mkdir(opts.runDir, { recursive: true });
    const reclaimed = await runtime.reclaimOrphans();
    // Copies a crashed runtime left may be half made or for another range: no container uses
    // them now, so they go.
    await runtime.shifted?.clear();
    await runtime.firewall.install();
    return { runtime, reclaimed };
  }

  /**
   * The root filesystem: the image's layers under a writable layer kept on a tmpfs of `diskMiB`
   * at `disk` (upper and work dirs both, as overlayfs needs them on one filesystem), with the
   * init's mount point made in the upper dir before the overlay goes up.
   */
  private async mountRootfs(layers: string[], disk: string, rootfs: string, diskMiB: number): Promise<void> {
    const shifted = this.shifted;
    const [lowers] = await Promise.all([
      shifted ? Promise.all(layers.map((l) => shifted.get(l))) : layers,
      mountTmpfs(disk, diskMiB),
    ]);
    const upper = join(disk, 'upper');
    const initPoint = join(upper, INIT_PATH);
    await mkdir(dirname(initPoint), { recursive: true, mode: 0o755 });
    await writeFile(initPoint, '', { mode: 0o555 });
    await mkdir(join(disk, 'work'));
    // The rootfs's own directory takes its owner from the upper dir: container root must own it.
    if (this.userns) await shiftTree(upper, this.userns);
    await mountOverlay(lowers, upper, join(disk, 'work'), rootfs);
  }

  list(): Container[] {
    return [...this.containers.values()];
  }

  async create(o: CreateOptions): Promise<Container> {
    const id = randomBytes(6).toString('hex');
    const bundle = join(this.containersDir, id);
    const rootfs = join(bundle, 'rootfs');
    const disk = join(bundle, 'disk');
    const diskMiB = o.diskMiB ?? DEFAULT_DISK_MIB;
    if (!Number.isInteger(diskMiB) || diskMiB < 1) {
      throw new ContainerStartError(`diskMiB must be a positive integer, got ${diskMiB}`, '');
    }
    // The record goes first so that a crash at any later step is found and cleaned on restart.
    await mkdir(disk, { recursive: true });
    await mkdir(rootfs, { recursive: true });
    if (this.userns) {
      // runc mounts the rootfs from inside the user namespace, as container root: it must pass
      // the bundle folder, which no other host user may.
      await chown(bundle, 0, this.userns.hostId);
      await chmod(bundle, 0o710);
    }
    await writeFile(
      join(bundle, 'record.json'),
      JSON.stringify({ id, label: o.label ?? '', createdAt: Date.now() }),
    );
    try {
      const [net] = await Promise.all([
        this.network.attach(id),
        this.mountRootfs(o.image.layers, disk, rootfs, diskMiB),
      ]);
      if (this.userns && o.port < 1024) {
        // The network namespace belongs to the host's user namespace, so container root's
        // NET_BIND_SERVICE does not count in it: low ports are opened to every user of this
        // instance's own namespace instead, which holds nothing but the instance.
        await run('nsenter', [
          `--net=${net.netnsPath}`,
          'sysctl',
          '-q',
          '-w',
          `net.ipv4.ip_unprivileged_port_start=${o.port}`,
        ]);
      }
      await checkRootfs(rootfs);
      const cfg = o.image.config;
      const cwd = checkWorkingDir(cfg.workingDir);
      const env = [...cfg.env.filter((e) => !e.startsWith('PORT=')), `PORT=${o.port}`];
      for (const [k, v] of Object.entries(o.env ?? {})) env.push(`${k}=${v}`);
      const args = o.args ?? [...cfg.entrypoint, ...cfg.cmd];
      if (args.length === 0) throw new ContainerStartError('the image has no Entrypoint or Cmd to run', '');
      if (!env.some((e) => e.startsWith('PATH=')))
        env.unshift('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
      const cgroupsPath = this.cgroups.pathOf(this.opts.cgroupParent, id);
      const spec = buildSpec({
        id,
        rootfs,
        process: { args, env, cwd, user: o.user ?? cfg.user },
        initPath: this.init,
        netnsPath: net.netnsPath,
        cgroupsPath,
        memoryBytes: (o.memoryMiB ?? 128) * 1024 * 1024,
        pidsLimit: o.pidsLimit ?? 256,
        ...(o.cpus ? { cpus: o.cpus } : {}),
        readOnlyRootfs: o.readOnlyRootfs ?? false,
        ...(this.userns ? { userns: this.userns } : {}),
      });
      await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
      const pidFile = join(bundle, 'pid');
      await this.oci.run(id, bundle, pidFile, logPathsOf(bundle));
      const pid = Number(await readFile(pidFile, 'utf8'));
      const container = new Container(id, net.ip, o.port, pid, bundle, this);
      // Where the instance can be reached, for operators and benchmarks on this host.
      await writeFile(
        join(bundle, 'state.json'),
        JSON.stringify({ id, label: o.label ?? '', ip: net.ip, port: o.port, pid }),
      );
      this.containers.set(id, container);
      container.attachCgroup(this.cgroups.open(this.opts.cgroupParent, id));
      try {
        await waitListening(net.ip, o.port, o.readyTimeoutMs ?? 10_000, () => container.isAlive());
      } catch (err) {
        const log = await container.readLog(4096);
        await container.destroy();
        throw new ContainerStartError(`container did not become ready: ${(err as Error).message}`, log, {
          cause: err,
        });
      }
      return container;
    } catch (err) {
      if (!this.containers.has(id)) await this.remove(id);
      if (err instanceof ContainerStartError) throw err;
      const log = await readLogs(bundle, 64 * 1024);
      throw new ContainerStartError(`creating the container failed: ${(err as Error).message}`, log, {
        cause: err,
      });
    }
  }

  /** @internal Tears one container down; every step runs even when an earlier one failed. */
  async remove(id: string): Promise<void> {
    const bundle = join(this.containersDir, id);
    if (!existsSync(bundle) && !(await this.oci.list()).includes(id)) {
      // Removed already (by an earlier call, or a runtime that reclaimed it).
      this.containers.delete(id);
      return;
    }
    const errors: unknown[] = [];
    const step = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    };
    const pid = Number(await readFile(join(bundle, 'pid'), 'utf8').catch(() => '')) || undefined;
    await step(() => this.oci.delete(id, pid));
    await step(() => this.network.detach(id));
    // The overlay first: it holds the tmpfs under it busy.
    await step(() => unmount(join(bundle, 'rootfs')));
    await step(() => unmount(join(bundle, 'disk')));
    await step(() => this.cgroups.remove(this.opts.cgroupParent, id));
    // A recursive rm through a live mount would empty it, and fail on the mount point anyway.
    if (!(await isMounted(join(bundle, 'rootfs'))) && !(await isMounted(join(bundle, 'disk')))) {
      await step(() => rm(bundle, { recursive: true, force: true }));
    }
    this.containers.delete(id);
    if (errors.length) throw new AggregateError(errors, `removing container ${id} left errors`);
  }

  private async reclaimOrphans(): Promise<string[]> {
    const ids = new Set<string>(await this.oci.list());
    if (existsSync(this.containersDir)) for (const d of await readdir(this.containersDir)) ids.add(d);
    for (const id of await this.network.list()) ids.add(id);
    const reclaimed: string[] = [];
    for (const id of ids) {
      await this.remove(id).catch(() => undefined);
      reclaimed.push(id);
    }
    return reclaimed;
  }

  /** What this runtime has on the host now (containers' mounts, netns, veths, cgroups, IPs). */
  async residue(): Promise<HostResidue> {
    return await findResidue({
      stateDir: this.opts.stateDir,
      cgroupParent: this.opts.cgroupParent,
      cgroups: this.cgroups,
      oci: this.oci,
      network: this.network,
      firewall: async () => ((await this.firewall.present()) ? [this.opts.bridge] : []),
    });
  }

  /** Destroys every container, then the bridge and the cgroup parent: nothing is left. */
  async close(): Promise<void> {
    const results = await Promise.allSettled(this.list().map((c) => c.destroy()));
    await this.network.removeBridge();
    await this.firewall.remove();
    await this.cgroups.removeParent(this.opts.cgroupParent);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    // With every container gone, the run folder (IP allocator's lock and cursor, runc's root)
    // holds nothing that matters: it goes too. Kept when something could not be removed.
    if (!failed.length) {
      await rm(this.opts.runDir, { recursive: true, force: true }).catch(() => undefined);
      // The layer copies are made again when a runtime needs them; a container left running
      // would still have them mounted.
      await this.shifted?.clear();
    }
    if (failed.length)
      throw new AggregateError(
        failed.map((f) => f.reason),
        'runtime close left errors',
      );
  }
}
