import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CGROUP_ROOT, type CgroupDriver, createCgroupDriver } from './cgroups/index.js';
import { BridgeFirewall, CniNetwork, type Firewall, type NetworkDriver } from './network/index.js';
import { createOciRuntime, type OciRuntime } from './oci/index.js';
import { DEFAULT_CNI_PATH, type RuntimeOptions } from './options.js';

/** What a Runtime drives the host through; each is a small interface, so each can be replaced. */
export interface RuntimeDrivers {
  oci: OciRuntime;
  cgroups: CgroupDriver;
  network: NetworkDriver;
  firewall: Firewall;
}

/**
 * The drivers `opts` asks for: runc or crun, cgroupfs or systemd, the CNI bridge network and its
 * firewall.
 */
export function createDrivers(opts: RuntimeOptions): RuntimeDrivers {
  const cgroups = createCgroupDriver(opts.cgroupManager);
  const oci = opts.ociRuntime ?? 'runc';
  // crun will not run containers on a hybrid host (v1 controllers plus a v2 tree at unified):
  // say so at open rather than at the first container's start.
  if (oci === 'crun' && cgroups.kind === 'v1' && existsSync(join(CGROUP_ROOT, 'unified'))) {
    throw new Error(
      'crun does not run on a hybrid cgroup host (v1 controllers plus /sys/fs/cgroup/unified): use runc (ociRuntime "runc", the default) or a pure cgroup v2 host',
    );
  }
  return {
    cgroups,
    oci: createOciRuntime(oci, {
      root: join(opts.runDir, oci),
      systemdCgroup: cgroups.manager === 'systemd',
    }),
    network: new CniNetwork({
      bridge: opts.bridge,
      subnet: opts.subnet,
      cniPath: opts.cniPath ?? DEFAULT_CNI_PATH,
      ipamDir: join(opts.runDir, 'ipam'),
      netnsPrefix: opts.cgroupParent,
    }),
    firewall: new BridgeFirewall(opts.bridge, opts.subnet, opts.egress ?? 'off', opts.hostPorts ?? []),
  };
}
