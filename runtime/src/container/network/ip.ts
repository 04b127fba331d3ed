import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run, runMeasured } from '../../process/index.js';
import { CniNetwork, NETNS_DIR } from './cni.js';
import type { Attachment } from './types.js';

/**
 * The CNI bridge plugin's setup done with `ip -batch`: the same bridge, veth pair, address,
 * default route and isolated bridge port, and the same host-local IPAM (run as a CNI plugin, so
 * its state, and the residue and crash checks over it, stay as they were). The bridge plugin
 * cost ~100 ms of CPU per attach on this project's host; host-local and two `ip` runs cost ~8.
 */
export class IpNetwork extends CniNetwork {
  private bridgeUp: Promise<void> | undefined;

  private ipam(command: 'ADD' | 'DEL', id: string, netnsPath: string) {
    return runMeasured(join(this.opts.cniPath, 'host-local'), [], {
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

  /** The bridge with the gateway address, made once per runtime (kept if it exists). */
  private ensureBridge(gateway: string, prefix: string): Promise<void> {
    this.bridgeUp ??= (async () => {
      const br = this.opts.bridge;
      const exists = await run('ip', ['-o', 'link', 'show', 'dev', br]).then(
        () => true,
        () => false,
      );
      const lines = [
        ...(exists ? [] : [`link add name ${br} type bridge`]),
        `address replace ${gateway}/${prefix} dev ${br}`,
        `link set dev ${br} up`,
      ];
      await run('ip', ['-batch', '-'], { input: `${lines.join('\n')}\n` });
    })().catch((err) => {
      this.bridgeUp = undefined;
      throw err;
    });
    return this.bridgeUp;
  }

  override async attach(id: string): Promise<Attachment> {
    const name = this.netnsName(id);
    const netnsPath = join(NETNS_DIR, name);
    const veth = `v${id}`;
    await mkdir(this.opts.ipamDir, { recursive: true });
    try {
      const { stdout, cpuMs } = await this.ipam('ADD', id, netnsPath);
      const result = JSON.parse(stdout) as { ips?: { address: string; gateway?: string }[] };
      const address = result.ips?.[0]?.address;
      const gateway = result.ips?.[0]?.gateway;
      const [ip, prefix] = address?.split('/') ?? [];
      if (!ip || !prefix || !gateway)
        throw new Error(`host-local returned no address and gateway: ${stdout}`);
      await this.ensureBridge(gateway, prefix);
      // The host end is an isolated bridge port: it forwards only to the bridge itself (the
      // host), never to another instance's port, so one tenant cannot reach another's.
      const host = [
        `netns add ${name}`,
        `link add ${veth} type veth peer name eth0 netns ${name}`,
        `link set dev ${veth} master ${this.opts.bridge}`,
        `link set dev ${veth} type bridge_slave isolated on hairpin off`,
        `link set dev ${veth} up`,
      ];
      const hostCpu = (await runMeasured('ip', ['-batch', '-'], { input: `${host.join('\n')}\n` })).cpuMs;
      // A default route through the bridge even when egress is off: the firewall, not a
      // missing route, is what keeps instances in (and what the tests check).
      const inside = [
        'link set dev lo up',
        `address add ${address} dev eth0`,
        'link set dev eth0 up',
        `route add default via ${gateway} dev eth0`,
      ];
      const insideCpu = (
        await runMeasured('ip', ['-n', name, '-batch', '-'], { input: `${inside.join('\n')}\n` })
      ).cpuMs;
      return { netnsPath, ip, cpuMs: (cpuMs ?? 0) + (hostCpu ?? 0) + (insideCpu ?? 0) };
    } catch (err) {
      await this.detach(id).catch(() => undefined);
      throw err;
    }
  }

  override async detach(id: string): Promise<void> {
    const name = this.netnsName(id);
    const errors: unknown[] = [];
    // Every ADD gets a DEL, even when the namespace is already gone: it frees the IP.
    await this.ipam('DEL', id, join(NETNS_DIR, name)).catch((e) => errors.push(e));
    // The host end goes first, explicitly: a namespace's devices go when the kernel tears it
    // down, later, and a check right after a remove would find the veth still there. One run
    // for both; -force goes on past a part already gone.
    const batch = `link delete v${id}\nnetns delete ${name}\n`;
    await run('ip', ['-force', '-batch', '-'], { input: batch }).catch((e: Error) => {
      const real = e.message
        .split('\n')
        .filter((l) => /error|fail|cannot/i.test(l))
        .filter((l) => !/Cannot find device|No such file|not found|Command failed -:\d+$/i.test(l.trim()));
      if (real.length) errors.push(e);
    });
    if (errors.length) throw new AggregateError(errors, `detaching network of ${id} failed`);
  }
}
