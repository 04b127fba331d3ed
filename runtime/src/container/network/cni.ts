import { existsSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Measured, run, runMeasured } from '../../process/index.js';
import type { Attachment, NetworkDriver, NetworkOptions, NetworkResidue } from './types.js';

export const NETNS_DIR = '/run/netns';

/** Veth, bridge and addresses made by the CNI bridge plugin (and its host-local IPAM). */
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

  private cni(command: 'ADD' | 'DEL', id: string, netnsPath: string): Promise<Measured> {
    return runMeasured(join(this.opts.cniPath, 'bridge'), [], {
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

  private netnsName(id: string): string {
    return `${this.opts.netnsPrefix}-${id}`;
  }

  async attach(id: string): Promise<Attachment> {
    const name = this.netnsName(id);
    const netnsPath = join(NETNS_DIR, name);
    await mkdir(this.opts.ipamDir, { recursive: true });
    await run('ip', ['netns', 'add', name]);
    try {
      await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
      const { stdout: out, cpuMs } = await this.serial(() => this.cni('ADD', id, netnsPath));
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
      return { netnsPath, ip, ...(cpuMs !== undefined ? { cpuMs } : {}) };
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

  /** Ids whose namespaces exist, by name prefix: a leaked namespace has no bundle left to name it. */
  async list(): Promise<string[]> {
    const prefix = this.netnsName('');
    return (await this.namespaces()).map((n) => n.slice(prefix.length));
  }

  private async namespaces(): Promise<string[]> {
    const out = await run('ip', ['netns', 'list']).catch(() => '');
    const prefix = this.netnsName('');
    return out
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.startsWith(prefix) && /^[0-9a-f]{12}$/.test(n.slice(prefix.length)));
  }

  async residue(): Promise<NetworkResidue> {
    const veths = (await run('ip', ['-o', 'link', 'show', 'master', this.opts.bridge]).catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(':')[1]?.trim() ?? l);
    const ips: string[] = [];
    const dir = this.opts.ipamDir;
    for (const net of existsSync(dir) ? await readdir(dir) : []) {
      const netDir = join(dir, net);
      for (const f of existsSync(netDir) ? await readdir(netDir) : []) if (/^[\d.]+$/.test(f)) ips.push(f);
    }
    return { netns: await this.namespaces(), veths, ips };
  }

  async removeBridge(): Promise<void> {
    await run('ip', ['link', 'delete', this.opts.bridge]).catch(() => undefined);
  }
}
