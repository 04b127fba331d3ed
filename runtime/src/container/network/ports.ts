import { run } from '../../process/index.js';

/**
 * Lets every user of the namespace at `netnsPath` bind ports from `port` up. For a container in
 * a user namespace: its network namespace belongs to the host's user namespace, so container
 * root's NET_BIND_SERVICE does not count in it, and the namespace holds nothing but the instance.
 */
export async function openLowPorts(netnsPath: string, port: number): Promise<void> {
  await run('nsenter', [
    `--net=${netnsPath}`,
    'sysctl',
    '-q',
    '-w',
    `net.ipv4.ip_unprivileged_port_start=${port}`,
  ]);
}
