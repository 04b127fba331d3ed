export interface NetworkOptions {
  /** Host bridge the instances attach to (at most 15 characters). */
  bridge: string;
  /** IPv4 subnet in CIDR form; the bridge takes the first address. */
  subnet: string;
  /** Folder of the CNI plugin binaries. */
  cniPath: string;
  /** host-local IPAM state; on tmpfs (under /run) so a reboot cannot leak addresses. */
  ipamDir: string;
  /** Names this runtime's network namespaces ("<prefix>-<id>"), so its leftovers can be told apart. */
  netnsPrefix: string;
}

export interface Attachment {
  netnsPath: string;
  ip: string;
  /** CPU time the CNI plugins cost, in milliseconds, when it was measured. */
  cpuMs?: number;
}

/** What a network driver has made on the host and not removed yet. */
export interface NetworkResidue {
  /** Network namespaces, by name. */
  netns: string[];
  /** Host ends of veth pairs still on the bridge. */
  veths: string[];
  /** Addresses still allocated. */
  ips: string[];
}

/** Network namespaces through `ip netns` and addresses through the CNI bridge + host-local plugins. */
export interface NetworkDriver {
  attach(id: string): Promise<Attachment>;
  detach(id: string): Promise<void>;
  /** Ids of the containers it has a namespace for, leaked ones too. */
  list(): Promise<string[]>;
  /** Everything it made that is still on the host. */
  residue(): Promise<NetworkResidue>;
  /** Removes the bridge itself (when the runtime shuts down and owns it). */
  removeBridge(): Promise<void>;
}

/** Host-side rules around the bridge (see BridgeFirewall). */
export interface Firewall {
  /** Idempotent: replaces whatever an earlier run left. */
  install(): Promise<void>;
  remove(): Promise<void>;
  /** Whether any of its rules are in place, for residue checks. */
  present(): Promise<boolean>;
}
