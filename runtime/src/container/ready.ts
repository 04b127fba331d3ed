import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Longest pause between two connection attempts. A refused connect to a local veth costs a few
 * microseconds, and every millisecond of pause is start latency: node listens ~40 ms in, and a
 * 20 ms cap lost up to 20 ms of it.
 */
const READY_POLL_MAX_MS = 2;

/**
 * Waits until something accepts connections on `ip:port`, retrying with a doubling pause; fails
 * early once `alive` says the container has exited.
 */
export async function waitListening(
  ip: string,
  port: number,
  timeoutMs: number,
  alive: () => boolean,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let delay = 1;
  while (performance.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect({ host: ip, port });
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    if (!alive()) throw new Error('the container exited before it listened');
    await sleep(delay);
    delay = Math.min(delay * 2, READY_POLL_MAX_MS);
  }
  throw new Error(`nothing listened on port ${port} within ${timeoutMs} ms`);
}
