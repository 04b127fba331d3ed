import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CgroupDriver } from './cgroups/index.js';
import type { NetworkDriver } from './network/index.js';
import type { OciRuntime } from './oci/index.js';
import { mountPoints } from './rootfs/mounts.js';

/** What a runtime has on the host right now; all empty once it is closed. */
export interface HostResidue {
  mounts: string[];
  netns: string[];
  veths: string[];
  cgroups: string[];
  ips: string[];
  /** Containers the OCI runtime (runc or crun) still has. */
  runc: string[];
  bundles: string[];
  /** The bridge's firewall chains, while they exist. */
  firewall: string[];
}

export interface ResidueScope {
  stateDir: string;
  cgroupParent: string;
  cgroups: CgroupDriver;
  oci: OciRuntime;
  network: NetworkDriver;
  /** The firewall's chains, while they exist. */
  firewall: () => Promise<string[]>;
}

async function list(dir: string): Promise<string[]> {
  return existsSync(dir) ? await readdir(dir) : [];
}

export async function findResidue(s: ResidueScope): Promise<HostResidue> {
  const mounts = (await mountPoints()).filter((m) => m.startsWith(`${s.stateDir}/`));
  const cgroups: string[] = [];
  for (const dir of s.cgroups.parentDirs(s.cgroupParent)) {
    for (const child of await list(dir)) {
      if (existsSync(join(dir, child, 'cgroup.procs'))) cgroups.push(join(dir, child));
    }
  }
  const net = await s.network.residue();
  return {
    mounts,
    netns: net.netns,
    veths: net.veths,
    cgroups,
    ips: net.ips,
    runc: await s.oci.list(),
    bundles: await list(join(s.stateDir, 'containers')),
    firewall: await s.firewall(),
  };
}
/**
 * Everything in a residue as "kind: item" lines, for assertions and messages. While a runtime
 * is open its bridge's firewall is expected: `exceptFirewall` leaves it out.
 */
export function residueItems(r: HostResidue, opts: { exceptFirewall?: boolean } = {}): string[] {
  return Object.entries(r).flatMap(([kind, items]) =>
    kind === 'firewall' && opts.exceptFirewall ? [] : (items as string[]).map((i) => `${kind}: ${i}`),
  );
}
