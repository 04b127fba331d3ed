import type { CgroupManager } from './cgroups/index.js';
import type { Egress } from './network/index.js';
import type { OciRuntimeName } from './oci/index.js';
import type { ReadinessProbe } from './ready.js';
import type { UsernsMapping } from './rootfs/userns.js';

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
   * TCP ports of the bridge's own address (the first of `subnet`) that instances may connect to:
   * the worker's Lambda Runtime API. Nothing else on the host is reachable from them.
   */
  hostPorts?: number[];
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
  /**
   * Network namespaces kept set up through CNI ahead of need (default 0), each with an address
   * of the subnet: a start that finds one skips the network phase (~10-30 ms of CNI plugins).
   * Refilled in the background after each use, removed by close().
   */
  netnsPool?: number;
  /**
   * Root filesystems kept mounted ahead by prepare(image), over all images (default 8; 0: none),
   * each with its own network namespace and address; the image prepared longest ago gives its
   * slot up first.
   */
  maxPrepared?: number;
}

export const DEFAULT_INIT = '/usr/bin/tini-static';
export const DEFAULT_DISK_MIB = 256;
export const DEFAULT_MEMORY_MIB = 128;
export const DEFAULT_PIDS_LIMIT = 256;
/** How long a new container's server has to accept connections, unless CreateOptions says. */
export const DEFAULT_READY_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_PREPARED = 8;
export const DEFAULT_CNI_PATH = '/usr/lib/cni';

export interface CreateOptions {
  image: RunnableImage;
  /** The port the server listens on, passed as $PORT. */
  port: number;
  env?: Record<string, string>;
  /** Memory limit (default 128 MiB), swap not allowed. */
  memoryMiB?: number;
  /** Most processes and threads at once (default 256). */
  pidsLimit?: number;
  cpus?: number;
  /** Replaces the image's Entrypoint + Cmd. */
  args?: string[];
  /** How long the server has to accept connections on its port (default 10 s). */
  readyTimeoutMs?: number;
  /** How it shows it is ready, when not by accepting connections on `port` (a Lambda runtime). */
  ready?: ReadinessProbe;
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
