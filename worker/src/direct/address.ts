import { connect } from 'node:net';
import { natsServers } from '@thaw/shared';

/** How long the probe connection to a NATS server may take. */
const PROBE_TIMEOUT_MS = 3000;

/**
 * The address this host reaches NATS from: the one gateways are most likely to reach it on, so
 * the direct link listens and is advertised there when THAW_DIRECT_HOST is not set. Found by
 * connecting to the first NATS server that answers and reading the socket's local address
 * (nothing is sent). Loopback when NATS is on this host.
 */
export async function addressTowardNats(url: string): Promise<string> {
  const errors: string[] = [];
  for (const server of natsServers(url)) {
    const u = new URL(server.includes('://') ? server : `nats://${server}`);
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(u.port || 4222);
    try {
      return await new Promise<string>((resolve, reject) => {
        const s = connect({ host, port });
        const timer = setTimeout(() => s.destroy(new Error('timed out')), PROBE_TIMEOUT_MS);
        s.once('connect', () => {
          clearTimeout(timer);
          const local = s.localAddress;
          s.destroy();
          if (local) resolve(local);
          else reject(new Error('no local address'));
        });
        s.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
    } catch (err) {
      errors.push(`${server}: ${(err as Error).message}`);
    }
  }
  throw new Error(`cannot find this host's address toward NATS (${errors.join('; ')}); set THAW_DIRECT_HOST`);
}
