import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../process/index.js';

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
}

/** Network namespaces through `ip netns` and addresses through the CNI bridge + host-local plugins. */
export interface NetworkDriver {
  netnsName(id: string): string;
  attach(id: string): Promise<Attachment>;
  detach(id: string): Promise<void>;
  /** Removes the bridge itself (when the runtime shuts down and owns it). */
  removeBridge(): Promise<void>;
}

const NETNS_DIR = '/run/netns';

export class CniNetwork implements NetworkDriver {
  private readonly conf: string;
  // CNI plugins take locks of their own, but serializing ADD/DEL keeps bridge creation and
  // iptables edits from racing each other, as containerd's CNI library does.
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: NetworkOptions) {
    this.conf = JSON.stringify({
      cniVersion: '1.0.0',
      name: `thaw-${opts.bridge}`,
      type: 'bridge',
      bridge: opts.bridge,
      isGateway: true,
      ipMasq: false,
      hairpinMode: false,
      // A default route through the bridge even when egress is off: the firewall, not a
      // missing route, is what keeps instances in (and what the tests check).
      ipam: {
        type: 'host-local',
        ranges: [[{ subnet: opts.subnet }]],
        routes: [{ dst: '0.0.0.0/0' }],
        dataDir: opts.ipamDir,
      },
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private cni(command: 'ADD' | 'DEL', id: string, netnsPath: string): Promise<string> {
    return run(join(this.opts.cniPath, 'bridge'), [], {
      input: this.conf,
      env: {
        PATH: process.env.PATH,
        CNI_COMMAND: command,
        CNI_CONTAINERID: id,
        CNI_NETNS: netnsPath,
        CNI_IFNAME: 'eth0',
        CNI_PATH: this.opts.cniPath,
      },
    });
  }

  netnsName(id: string): string {
    return `${this.opts.netnsPrefix}-${id}`;
  }

  async attach(id: string): Promise<Attachment> {
    const name = this.netnsName(id);
    const netnsPath = join(NETNS_DIR, name);
    await mkdir(this.opts.ipamDir, { recursive: true });
    await run('ip', ['netns', 'add', name]);
    try {
      await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
      const out = await this.serial(() => this.cni('ADD', id, netnsPath));
      const result = JSON.parse(out) as {
        ips?: { address: string }[];
        interfaces?: { name: string; sandbox?: string }[];
      };
      const ip = result.ips?.[0]?.address.split('/')[0];
      if (!ip) throw new Error(`CNI ADD returned no address: ${out}`);
      // The host end of the veth: isolated ports forward only to the bridge itself (the host),
      // never to each other, so one tenant's instance cannot reach another's.
      const hostVeth = result.interfaces?.find((i) => !i.sandbox && i.name !== this.opts.bridge)?.name;
      if (!hostVeth) throw new Error(`CNI ADD returned no host interface: ${out}`);
      await run('ip', ['link', 'set', 'dev', hostVeth, 'type', 'bridge_slave', 'isolated', 'on']);
      return { netnsPath, ip };
    } catch (err) {
      await this.detach(id).catch(() => undefined);
      throw err;
    }
  }

  async detach(id: string): Promise<void> {
    const name = this.netnsName(id);
    const errors: unknown[] = [];
    // Every ADD gets a DEL, even when the namespace is already gone: it frees the IP.
    await this.serial(() => this.cni('DEL', id, join(NETNS_DIR, name))).catch((e) => errors.push(e));
    await run('ip', ['netns', 'delete', name]).catch((e: Error) => {
      if (!/No such file|not found/i.test(e.message)) errors.push(e);
    });
    if (errors.length) throw new AggregateError(errors, `detaching network of ${id} failed`);
  }

  async removeBridge(): Promise<void> {
    await run('ip', ['link', 'delete', this.opts.bridge]).catch(() => undefined);
  }
}
