import { run } from './exec.js';

/**
 * Host-side rules for one bridge: instances answer the host's connections but open none to it,
 * and nothing leaves the bridge (no egress). Everything lives in two chains of the bridge's own,
 * hooked from INPUT and FORWARD, so removing them takes every rule with it.
 * Instances cannot reach each other either: their bridge ports are isolated (see network.ts).
 */
export class BridgeFirewall {
  private readonly input: string;
  private readonly forward: string;

  constructor(private readonly bridge: string) {
    // iptables chain names are at most 28 characters; bridge names at most 15.
    this.input = `THAW-IN-${bridge}`;
    this.forward = `THAW-FW-${bridge}`;
  }

  private ipt(args: string[]): Promise<string> {
    return run('iptables', ['-w', '5', ...args]);
  }

  /** Idempotent: replaces whatever an earlier run with this bridge left. */
  async install(): Promise<void> {
    await this.remove();
    await this.ipt(['-N', this.input]);
    await this.ipt(['-A', this.input, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT']);
    await this.ipt(['-A', this.input, '-j', 'DROP']);
    await this.ipt(['-I', 'INPUT', '1', '-i', this.bridge, '-j', this.input]);
    await this.ipt(['-N', this.forward]);
    await this.ipt(['-A', this.forward, '-j', 'DROP']);
    await this.ipt(['-I', 'FORWARD', '1', '-i', this.bridge, '-j', this.forward]);
  }

  async remove(): Promise<void> {
    for (const [hook, chain] of [
      ['INPUT', this.input],
      ['FORWARD', this.forward],
    ] as const) {
      // A jump may have been added more than once by crashed runs: delete until none is left.
      for (let i = 0; i < 10; i++) {
        const removed = await this.ipt(['-D', hook, '-i', this.bridge, '-j', chain]).then(
          () => true,
          () => false,
        );
        if (!removed) break;
      }
      await this.ipt(['-F', chain]).catch(() => undefined);
      await this.ipt(['-X', chain]).catch(() => undefined);
    }
  }

  /** The rules in place, for residue checks. */
  async present(): Promise<boolean> {
    const out = await this.ipt(['-S']).catch(() => '');
    return out.includes(this.input) || out.includes(this.forward);
  }
}
