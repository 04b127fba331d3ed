import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync } from 'node:fs';
import { chmod, chown, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CgroupDriver } from './cgroups/index.js';
import { Container } from './container.js';
import { createDrivers, type RuntimeDrivers } from './drivers.js';
import { ContainerStartError } from './errors.js';
import { LOG_TAIL_BYTES, logPathsOf, readLogs } from './logs.js';
import { type Firewall, type NetworkDriver, openLowPorts } from './network/index.js';
import type { OciRuntime } from './oci/index.js';
import {
  type CreateOptions,
  DEFAULT_DISK_MIB,
  DEFAULT_INIT,
  DEFAULT_MAX_PREPARED,
  DEFAULT_MEMORY_MIB,
  DEFAULT_PIDS_LIMIT,
  DEFAULT_READY_TIMEOUT_MS,
  type RunnableImage,
  type RuntimeOptions,
} from './options.js';
import { Preparer, type Slot } from './prepared/preparer.js';
import { processOf } from './process.js';
import { waitReady } from './ready.js';
import { findResidue, type HostResidue } from './residue.js';
import { checkRootfs, openPathTo } from './rootfs/checks.js';
import { isMounted, unmount } from './rootfs/mounts.js';
import { mountRootfs } from './rootfs/rootfs.js';
import { checkMapping, ShiftedLayers, type UsernsMapping } from './rootfs/userns.js';
import { buildSpec } from './spec/spec.js';
import { type Phases, POOLED_LABEL, preparedKey, recordOf } from './start.js';

/** How much of a container's output a failed readiness check reports. */
const READY_LOG_BYTES = 4096;
/** Ports below this need NET_BIND_SERVICE in the network namespace's owner. */
const FIRST_UNPRIVILEGED_PORT = 1024;

/**
 * thaw's embedded container runtime: overlayfs rootfs, an OCI spec with secure defaults, an OCI
 * runtime (runc or crun), a CNI network namespace and the cgroup freezer, each behind a driver.
 * It keeps no daemon: every container has a bundle folder on disk, which is also how a restarted
 * runtime finds what a crashed one left.
 */
export class Runtime {
  readonly cgroups: CgroupDriver;
  private readonly oci: OciRuntime;
  private readonly network: NetworkDriver;
  private readonly firewall: Firewall;
  private readonly opts: RuntimeOptions;
  private readonly containers = new Map<string, Container>();
  private readonly containersDir: string;
  private readonly init: string;
  private readonly userns: Required<UsernsMapping> | undefined;
  private readonly shifted: ShiftedLayers | undefined;
  private readonly prepared: Preparer;

  private constructor(o: { options: RuntimeOptions; drivers: RuntimeDrivers }) {
    const opts = o.options;
    this.opts = opts;
    ({ cgroups: this.cgroups, oci: this.oci, network: this.network, firewall: this.firewall } = o.drivers);
    this.init = opts.init ?? DEFAULT_INIT;
    this.userns = opts.userns ? checkMapping(opts.userns) : undefined;
    if (this.userns) this.shifted = new ShiftedLayers(join(opts.stateDir, 'userns-layers'), this.userns);
    this.containersDir = join(opts.stateDir, 'containers');
    this.prepared = new Preparer({
      netnsPoolSize: opts.netnsPool ?? 0,
      maxPrepared: opts.maxPrepared ?? DEFAULT_MAX_PREPARED,
      newSlot: () => this.newSlot(),
      remove: (id) => this.remove(id),
      // A slot that could not be made costs the next start its time, nothing else.
      onError: () => undefined,
    });
  }

  /**
   * Opens the runtime and removes whatever an earlier, crashed runtime with this state left.
   * `drivers` replaces the ones `opts` would choose (see createDrivers).
   */
  static async open(
    opts: RuntimeOptions,
    drivers: RuntimeDrivers = createDrivers(opts),
  ): Promise<{ runtime: Runtime; reclaimed: string[] }> {
    const runtime = new Runtime({ options: opts, drivers });
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
    runtime.prepared.start();
    return { runtime, reclaimed };
  }

  list(): Container[] {
    return [...this.containers.values()];
  }

  /** Slots ready now: network namespaces alone, and prepared root filesystems. */
  preparedCounts(): { netns: number; rootfs: number } {
    return this.prepared.counts();
  }

  async create(o: CreateOptions): Promise<Container> {
    const t0 = performance.now();
    const diskMiB = o.diskMiB ?? DEFAULT_DISK_MIB;
    if (!Number.isInteger(diskMiB) || diskMiB < 1) {
      throw new ContainerStartError(`diskMiB must be a positive integer, got ${diskMiB}`, '');
    }
    const phases: Phases = { rootfsMs: 0, networkMs: 0, runtimeMs: 0, appMs: 0, cpuMs: 0 };
    let id = '';
    try {
      const slot = await this.acquire(o, diskMiB, phases);
      id = slot.id;
      await writeFile(join(slot.bundle, 'record.json'), recordOf(id, o.label ?? ''));
      const container = await this.start(slot, o, phases);
      const tApp = performance.now();
      try {
        await waitReady(o.ready, container.ip, o.port, o.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, () =>
          container.isAlive(),
        );
      } catch (err) {
        const log = await container.readLog(READY_LOG_BYTES);
        await container.destroy();
        throw new ContainerStartError(`container did not become ready: ${(err as Error).message}`, log, {
          cause: err,
        });
      }
      phases.appMs = performance.now() - tApp;
      phases.cpuMs += container.stats().cpuNs / 1e6;
      container.startPhases = { imageMs: 0, ...phases, totalMs: performance.now() - t0 };
      return container;
    } catch (err) {
      if (id && !this.containers.has(id)) await this.remove(id);
      if (err instanceof ContainerStartError) throw err;
      const log = id ? await readLogs(join(this.containersDir, id), LOG_TAIL_BYTES) : '';
      throw new ContainerStartError(`creating the container failed: ${(err as Error).message}`, log, {
        cause: err,
      });
    }
  }

  /**
   * Makes the next `create(o)` cheap: a slot with its network, the image's rootfs mounted and
   * the container created by the OCI runtime (its init waiting, in its namespaces and cgroup,
   * to be started); resolves when it is ready. A create with the same options takes it. Up to
   * `maxPrepared` option sets keep one each (RuntimeOptions).
   */
  async prepare(o: CreateOptions): Promise<void> {
    const diskMiB = o.diskMiB ?? DEFAULT_DISK_MIB;
    await this.prepared.prepare(preparedKey(o, diskMiB), async (slot) => {
      await this.mount(slot, o.image, diskMiB);
      await this.writeSpec(slot, o);
      const pidFile = join(slot.bundle, 'pid');
      slot.cpuMs += (await this.oci.create(slot.id, slot.bundle, pidFile, logPathsOf(slot.bundle))) ?? 0;
      slot.pid = Number(await readFile(pidFile, 'utf8'));
    });
  }

  /** Removes what prepare(o) made ahead, if anything: no create with these options is coming. */
  async unprepare(o: CreateOptions): Promise<void> {
    await this.prepared.forget(preparedKey(o, o.diskMiB ?? DEFAULT_DISK_MIB));
  }

  /** A bundle with network and rootfs: a prepared one, a pooled network, or both made now. */
  private async acquire(o: CreateOptions, diskMiB: number, phases: Phases): Promise<Slot> {
    const image = o.image;
    const ready = this.prepared.takeRootfs(preparedKey(o, diskMiB));
    if (ready) {
      phases.cpuMs += ready.cpuMs;
      return ready;
    }
    const t = performance.now();
    const pooled = this.prepared.takeNetwork();
    if (pooled) {
      await this.mount(pooled, image, diskMiB).catch(async (err) => {
        await this.remove(pooled.id).catch(() => undefined);
        throw err;
      });
      phases.rootfsMs = performance.now() - t;
      phases.cpuMs += pooled.cpuMs;
      return pooled;
    }
    const id = randomBytes(6).toString('hex');
    const bundle = join(this.containersDir, id);
    await this.makeBundle(id, bundle, '');
    let netMs = 0;
    const [net] = await Promise.all([
      this.network.attach(id).then((n) => {
        netMs = performance.now() - t;
        return n;
      }),
      this.mount({ id, bundle }, image, diskMiB).then(() => {
        phases.rootfsMs = performance.now() - t;
      }),
    ]).catch(async (err) => {
      await this.remove(id).catch(() => undefined);
      throw err;
    });
    // They ran side by side: the network's phase is what it added beyond the rootfs.
    phases.networkMs = Math.max(0, netMs - phases.rootfsMs);
    phases.cpuMs += net.cpuMs ?? 0;
    return { id, bundle, net, cpuMs: net.cpuMs ?? 0 };
  }

  private async mount(
    slot: Pick<Slot, 'id' | 'bundle'>,
    image: RunnableImage,
    diskMiB: number,
  ): Promise<void> {
    await mountRootfs({
      layers: image.layers,
      disk: join(slot.bundle, 'disk'),
      diskMiB,
      rootfs: join(slot.bundle, 'rootfs'),
      ...(this.userns && this.shifted ? { userns: { mapping: this.userns, layers: this.shifted } } : {}),
    });
    await checkRootfs(join(slot.bundle, 'rootfs'));
  }

  /** A slot for the pool: its bundle first (a crash after it is found on restart), then its network. */
  private async newSlot(): Promise<Slot> {
    const id = randomBytes(6).toString('hex');
    const bundle = join(this.containersDir, id);
    await this.makeBundle(id, bundle, POOLED_LABEL);
    try {
      const net = await this.network.attach(id);
      return { id, bundle, net, cpuMs: net.cpuMs ?? 0 };
    } catch (err) {
      await this.remove(id).catch(() => undefined);
      throw err;
    }
  }

  /** The bundle folder and its record go first, so that a crash at any later step is found and cleaned on restart. */
  private async makeBundle(id: string, bundle: string, label: string): Promise<void> {
    await mkdir(join(bundle, 'disk'), { recursive: true });
    await mkdir(join(bundle, 'rootfs'), { recursive: true });
    if (this.userns) {
      // The OCI runtime mounts the rootfs from inside the user namespace, as container root: it
      // must pass the bundle folder, which no other host user may.
      await chown(bundle, 0, this.userns.hostId);
      await chmod(bundle, 0o710);
    }
    await writeFile(join(bundle, 'record.json'), recordOf(id, label));
  }

  /** The OCI spec in the bundle (and, in a user namespace, a low port opened). */
  private async writeSpec(slot: Slot, o: CreateOptions): Promise<void> {
    const { id, bundle, net } = slot;
    if (this.userns && o.port < FIRST_UNPRIVILEGED_PORT) await openLowPorts(net.netnsPath, o.port);
    const spec = buildSpec({
      id,
      rootfs: join(bundle, 'rootfs'),
      process: processOf(o),
      initPath: this.init,
      netnsPath: net.netnsPath,
      cgroupsPath: this.cgroups.pathOf(this.opts.cgroupParent, id),
      memoryBytes: (o.memoryMiB ?? DEFAULT_MEMORY_MIB) * 1024 * 1024,
      pidsLimit: o.pidsLimit ?? DEFAULT_PIDS_LIMIT,
      ...(o.cpus ? { cpus: o.cpus } : {}),
      readOnlyRootfs: o.readOnlyRootfs ?? false,
      ...(this.userns ? { userns: this.userns } : {}),
    });
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
  }

  /** The OCI runtime's start of a prepared container, or spec and run: started, not yet ready. */
  private async start(slot: Slot, o: CreateOptions, phases: Phases): Promise<Container> {
    const { id, bundle, net } = slot;
    const t = performance.now();
    let pid = slot.pid;
    if (pid) phases.cpuMs += (await this.oci.start(id)) ?? 0;
    else {
      await this.writeSpec(slot, o);
      const pidFile = join(bundle, 'pid');
      phases.cpuMs += (await this.oci.run(id, bundle, pidFile, logPathsOf(bundle))) ?? 0;
      pid = Number(await readFile(pidFile, 'utf8'));
    }
    phases.runtimeMs = performance.now() - t;
    const container = new Container({
      id,
      ip: net.ip,
      port: o.port,
      pid,
      bundle,
      remove: (i) => this.remove(i),
    });
    // Where the instance can be reached, for operators and benchmarks on this host.
    await writeFile(
      join(bundle, 'state.json'),
      JSON.stringify({ id, label: o.label ?? '', ip: net.ip, port: o.port, pid }),
    );
    this.containers.set(id, container);
    container.attachCgroup(this.cgroups.open(this.opts.cgroupParent, id));
    return container;
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
    const results = await Promise.allSettled([this.prepared.close(), ...this.list().map((c) => c.destroy())]);
    await this.network.removeBridge();
    await this.firewall.remove();
    await this.cgroups.removeParent(this.opts.cgroupParent);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    // With every container gone, the run folder (IP allocator's lock and cursor, the OCI
    // runtime's root) holds nothing that matters: it goes too. Kept when something could not be
    // removed.
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
