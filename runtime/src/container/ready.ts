import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Longest pause between two connection attempts. A refused connect to a local veth costs a few
 * microseconds, and every millisecond of pause is start latency: node listens ~40 ms in, and a
 * 20 ms cap lost up to 20 ms of it.
 */
const READY_POLL_MAX_MS = 2;

/**
 * How a container shows it is ready, when that is not a server accepting connections on its
 * port: a Lambda runtime listens on nothing, and is ready when it first asks the worker's Runtime
 * API for an event. `wait` is called once the container is started.
 */
export interface ReadinessProbe {
  /** Resolves once the container at `ip` is ready; rejects with why it is not. */
  wait(ip: string, timeoutMs: number, alive: () => boolean): Promise<void>;
}

/** Waits for `probe` when there is one, else for a server on `ip:port`. */
export function waitReady(
  probe: ReadinessProbe | undefined,
  ip: string,
  port: number,
  timeoutMs: number,
  alive: () => boolean,
): Promise<void> {
  return probe ? probe.wait(ip, timeoutMs, alive) : waitListening(ip, port, timeoutMs, alive);
}

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
