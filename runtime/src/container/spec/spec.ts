import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { UsernsMapping } from '../rootfs/userns.js';
import { seccompProfile } from './seccomp.js';

export interface ProcessSpec {
  args: string[];
  env: string[];
  cwd: string;
  /** Image config User: "uid", "uid:gid", "name" or "name:group"; empty means root. */
  user: string;
}

/**
 * Where the init (tini) is bind-mounted in every container. The runtime creates the mount point
 * in the overlay's upper dir before mounting it, so a directory and an empty file sit there
 * whatever the image has at that path (an upper non-directory hides any lower entry, an upper
 * directory merges with a lower one): an image cannot make runc follow a symlink or fail on a
 * file where the mount point goes, and at worst its own /.thaw/init is hidden.
 */
export const INIT_PATH = '/.thaw/init';

export interface SpecOptions {
  id: string;
  rootfs: string;
  process: ProcessSpec;
  /** The host's static init binary, run as PID 1 in front of `process.args`. */
  initPath: string;
  netnsPath: string;
  cgroupsPath: string;
  memoryBytes: number;
  pidsLimit: number;
  /** CPU quota in cores (e.g. 0.5); unlimited when absent. */
  cpus?: number;
  /** A read-only root filesystem, with a size-limited tmpfs at /tmp for scratch files. */
  readOnlyRootfs?: boolean;
  /** Run in a user namespace with this id mapping; the rootfs must be owned by the mapped ids. */
  userns?: Required<UsernsMapping>;
}

/**
 * containerd's and Docker's default set (14 capabilities) cut to the 8 an HTTP function uses:
 * owning and chmod-ing its own files, dropping to another user, binding a low port, signalling its
 * own children. Left out: NET_RAW (the usual door to ARP/ICMP spoofing on a shared bridge), MKNOD
 * (device nodes in layers are skipped anyway), SETFCAP (file capabilities are not applied from
 * layers, so nothing can use them), SETPCAP (changing other processes' capability sets),
 * SYS_CHROOT (a chroot is a step of most container escapes) and AUDIT_WRITE (no function writes
 * the kernel's audit log). An image that needs one of these is not a function thaw serves.
 */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_NET_BIND_SERVICE',
  'CAP_KILL',
];

// The same lists runc's and containerd's default specs carry.
const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

function lookup(file: string, name: string): string[] | undefined {
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const fields = line.split(':');
      if (fields[0] === name) return fields;
    }
  } catch {
    // No passwd/group file in the image: only numeric users work.
  }
  return undefined;
}

/** Resolves an image's User against the image's own /etc/passwd and /etc/group. */
export function resolveUser(rootfs: string, user: string): { uid: number; gid: number } {
  if (!user) return { uid: 0, gid: 0 };
  const [u = '', g] = user.split(':');
  let uid: number;
  let gid: number | undefined;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
  } else {
    const entry = lookup(join(rootfs, 'etc/passwd'), u);
    if (!entry) throw new Error(`user "${u}" is not in the image's /etc/passwd`);
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  }
  if (g !== undefined) {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const entry = lookup(join(rootfs, 'etc/group'), g);
      if (!entry) throw new Error(`group "${g}" is not in the image's /etc/group`);
      gid = Number(entry[2]);
    }
  }
  return { uid, gid: gid ?? uid };
}

/** An OCI runtime config with thaw's secure defaults. */
export function buildSpec(o: SpecOptions): Record<string, unknown> {
  const user = resolveUser(o.rootfs, o.process.user);
  const caps = user.uid === 0 ? DEFAULT_CAPABILITIES : [];
  const resources: Record<string, unknown> = {
    devices: [{ allow: false, access: 'rwm' }],
    memory: { limit: o.memoryBytes, swap: o.memoryBytes },
    pids: { limit: o.pidsLimit },
  };
  if (o.cpus) resources.cpu = { quota: Math.round(o.cpus * 100_000), period: 100_000 };
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user,
      // PID 1 of the container's pid namespace inherits every orphan in it. A function's server
      // (node, python, busybox httpd) does not wait for processes it never started, so without
      // an init their zombies pile up until they hold the pids limit and nothing can fork.
      // tini reaps them, forwards signals to the function's process and exits with its status.
      args: [INIT_PATH, '--', ...o.process.args],
      env: o.process.env,
      cwd: o.process.cwd || '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 4096, soft: 4096 }],
      noNewPrivileges: true,
    },
    root: { path: o.rootfs, readonly: o.readOnlyRootfs ?? false },
    hostname: o.id,
    mounts: [
      {
        destination: INIT_PATH,
        type: 'bind',
        source: o.initPath,
        options: ['bind', 'ro', 'nosuid', 'nodev'],
      },
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
      },
      {
        destination: '/dev/mqueue',
        type: 'mqueue',
        source: 'mqueue',
        options: ['nosuid', 'noexec', 'nodev'],
      },
      // sysfs may only be mounted from the user namespace that owns the network namespace, and
      // the instance's is made on the host by CNI: in a user namespace /sys is an empty tmpfs
      // (read-only) rather than the host's whole /sys bound in, as rootless runc does.
      o.userns
        ? {
            destination: '/sys',
            type: 'tmpfs',
            source: 'tmpfs',
            options: ['nosuid', 'noexec', 'nodev', 'ro', 'mode=755', 'size=4k'],
          }
        : {
            destination: '/sys',
            type: 'sysfs',
            source: 'sysfs',
            options: ['nosuid', 'noexec', 'nodev', 'ro'],
          },
      ...(o.readOnlyRootfs
        ? [
            {
              destination: '/tmp',
              type: 'tmpfs',
              source: 'tmpfs',
              options: ['nosuid', 'nodev', 'mode=1777', 'size=65536k'],
            },
          ]
        : []),
    ],
    linux: {
      resources,
      cgroupsPath: o.cgroupsPath,
      namespaces: [
        { type: 'pid' },
        { type: 'network', path: o.netnsPath },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        ...(o.userns ? [{ type: 'user' }] : []),
      ],
      ...(o.userns
        ? {
            uidMappings: [{ containerID: 0, hostID: o.userns.hostId, size: o.userns.size }],
            gidMappings: [{ containerID: 0, hostID: o.userns.hostId, size: o.userns.size }],
          }
        : {}),
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
      seccomp: seccompProfile(),
    },
  };
}
