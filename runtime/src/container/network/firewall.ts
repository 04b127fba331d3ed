import { readFile } from 'node:fs/promises';
import { run } from '../../process/index.js';
import type { Firewall } from './types.js';

export type Egress = 'off' | 'masquerade';

/** The bridge's own address: the first of its subnet (CNI's host-local makes it the gateway). */
export function bridgeAddress(subnet: string): string {
  const [base = ''] = subnet.split('/');
  const n = base.split('.').reduce((acc, o) => acc * 256 + Number(o), 0) + 1;
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/**
 * Host-side rules for one bridge. Instances answer the host's connections but open none to it;
 * nothing reaches them from outside; they reach each other neither directly (their bridge
 * ports are isolated, see network.ts) nor routed through the host. Egress is off, or
 * masqueraded behind the host's address. The one exception: `hostPorts`, TCP ports of the bridge's
 * own address that instances may connect to (the worker's Lambda Runtime API). Every IPv4 rule
 * lives in chains of the bridge's own, hooked from INPUT, FORWARD and nat POSTROUTING, so removing
 * the chains takes every rule with it. IPv6 is dropped whole, to the host and through it: the
 * addresses are IPv4 only, but every interface gets an IPv6 link-local address, and without these
 * rules an instance reached any host service listening on "::" over the bridge's.
 */
export class BridgeFirewall implements Firewall {
  private readonly input: string;
  private readonly forward: string;
  private readonly nat: string;

  constructor(
    private readonly bridge: string,
    private readonly subnet: string,
    private readonly egress: Egress = 'off',
    private readonly hostPorts: readonly number[] = [],
  ) {
    // iptables chain names are at most 28 characters; bridge names at most 15.
    this.input = `THAW-IN-${bridge}`;
    this.forward = `THAW-FW-${bridge}`;
    this.nat = `THAW-NAT-${bridge}`;
  }

  private ipt(args: string[]): Promise<string> {
    return run('iptables', ['-w', '5', ...args]);
  }

  /** The IPv6 rules: [hook, match] pairs, each a DROP. */
  private ip6Rules(): string[][] {
    const br = this.bridge;
    return [
      ['INPUT', '-i', br],
      ['FORWARD', '-i', br],
      ['FORWARD', '-o', br],
    ];
  }

  private ip6t(args: string[]): Promise<string> {
    return run('ip6tables', ['-w', '5', ...args]);
  }

  /** Idempotent: replaces whatever an earlier run with this bridge left. */
  async install(): Promise<void> {
    await this.remove();
    if (
      this.egress === 'masquerade' &&
      (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim() !== '1'
    ) {
      throw new Error('egress "masquerade" needs IP forwarding: sysctl -w net.ipv4.ip_forward=1');
    }
    const br = this.bridge;
    for (const [hook = '', ...match] of this.ip6Rules())
      await this.ip6t(['-I', hook, '1', ...match, '-j', 'DROP']);
    await this.ipt(['-N', this.input]);
    await this.ipt(['-A', this.input, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT']);
    for (const port of this.hostPorts) {
      await this.ipt([
        '-A',
        this.input,
        '-s',
        this.subnet,
        '-d',
        bridgeAddress(this.subnet),
        '-p',
        'tcp',
        '--dport',
        String(port),
        '-j',
        'ACCEPT',
      ]);
    }
    await this.ipt(['-A', this.input, '-j', 'DROP']);
    await this.ipt(['-I', 'INPUT', '1', '-i', br, '-j', this.input]);
    await this.ipt(['-N', this.forward]);
    await this.ipt([
      '-A',
      this.forward,
      '-o',
      br,
      '-m',
      'conntrack',
      '--ctstate',
      'ESTABLISHED,RELATED',
      '-j',
      'ACCEPT',
    ]);
    await this.ipt(['-A', this.forward, '-o', br, '-j', 'DROP']);
    await this.ipt(['-A', this.forward, '-i', br, '-j', this.egress === 'masquerade' ? 'ACCEPT' : 'DROP']);
    await this.ipt(['-I', 'FORWARD', '1', '-i', br, '-j', this.forward]);
    await this.ipt(['-I', 'FORWARD', '1', '-o', br, '-j', this.forward]);
    if (this.egress === 'masquerade') {
      await this.ipt(['-t', 'nat', '-N', this.nat]);
      await this.ipt(['-t', 'nat', '-A', this.nat, '-s', this.subnet, '!', '-o', br, '-j', 'MASQUERADE']);
      await this.ipt(['-t', 'nat', '-I', 'POSTROUTING', '1', '-j', this.nat]);
    }
  }

  async remove(): Promise<void> {
    const br = this.bridge;
    for (const [hook = '', ...match] of this.ip6Rules()) {
      for (let i = 0; i < 10; i++) {
        const removed = await this.ip6t(['-D', hook, ...match, '-j', 'DROP']).then(
          () => true,
          () => false,
        );
        if (!removed) break;
      }
    }
    const hooks: [string[], string][] = [
      [['INPUT', '-i', br], this.input],
      [['FORWARD', '-i', br], this.forward],
      [['FORWARD', '-o', br], this.forward],
      [['-t', 'nat', 'POSTROUTING'], this.nat],
    ];
    for (const [hook, chain] of hooks) {
      const table = hook[0] === '-t' ? hook.slice(0, 2) : [];
      const rest = hook[0] === '-t' ? hook.slice(2) : hook;
      // A jump may have been added more than once by crashed runs: delete until none is left.
      for (let i = 0; i < 10; i++) {
        const removed = await this.ipt([...table, '-D', ...rest, '-j', chain]).then(
          () => true,
          () => false,
        );
        if (!removed) break;
      }
    }
    for (const [table, chain] of [
      [[], this.input],
      [[], this.forward],
      [['-t', 'nat'], this.nat],
    ] as const) {
      await this.ipt([...table, '-F', chain]).catch(() => undefined);
      await this.ipt([...table, '-X', chain]).catch(() => undefined);
    }
  }

  /** The rules in place, for residue checks. */
  async present(): Promise<boolean> {
    const out = await this.ipt(['-S']).catch(() => '');
    const nat = await this.ipt(['-t', 'nat', '-S']).catch(() => '');
    const v6 = await this.ip6t(['-S']).catch(() => '');
    return (
      out.includes(this.input) ||
      out.includes(this.forward) ||
      nat.includes(this.nat) ||
      v6.split('\n').some((rule) => rule.includes(` ${this.bridge} `))
    );
  }
}
