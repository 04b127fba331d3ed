import { join } from 'node:path';
import { type CgroupDriver, createCgroupDriver } from './cgroups/index.js';
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

/** The drivers `opts` asks for: runc or crun, cgroupfs or systemd, the CNI bridge and its firewall. */
export function createDrivers(opts: RuntimeOptions): RuntimeDrivers {
  const cgroups = createCgroupDriver(opts.cgroupManager);
  const oci = opts.ociRuntime ?? 'runc';
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
    firewall: new BridgeFirewall(opts.bridge, opts.subnet, opts.egress ?? 'off'),
  };
}
