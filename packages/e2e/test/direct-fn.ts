import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { nodeImage, writeImageArchive } from '@thaw/runtime/build';

/**
 * The function of direct.test.ts. Every answer carries the instance's cgroup path, which holds
 * its worker's cgroup parent (no cgroup namespace): the test tells which worker ran a call.
 * `/run` counts its runs per key in the instance before it sleeps, `/runs` reads the count (with
 * one instance per worker, a count of 0 proves the key never ran on that worker); `/connect`
 * tries a TCP connection from inside the instance and says how it ended.
 */
const SERVER = `
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect } from 'node:net';

const cgroup = readFileSync('/proc/self/cgroup', 'utf8');
const runs = new Map();
const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://fn');
  const q = (k) => url.searchParams.get(k) ?? '';
  const reply = (body) => {
    const text = JSON.stringify({ ...body, cgroup });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  req.resume();
  req.on('end', () => {
    switch (url.pathname) {
      case '/echo':
        reply({ i: q('i') });
        return;
      case '/run':
        runs.set(q('key'), (runs.get(q('key')) ?? 0) + 1);
        setTimeout(() => reply({ key: q('key') }), Number(q('ms')));
        return;
      case '/runs':
        reply({ key: q('key'), runs: runs.get(q('key')) ?? 0 });
        return;
      case '/connect': {
        let done = false;
        const s = connect({ host: q('host'), port: Number(q('port')) });
        const end = (outcome) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          s.destroy();
          reply({ outcome });
        };
        const timer = setTimeout(() => end('timeout'), Number(q('ms')));
        s.once('connect', () => end('connected'));
        s.once('error', (err) => end(err.code ?? 'error'));
        return;
      }
      default:
        reply({});
    }
  });
});
server.keepAliveTimeout = 0;
server.listen(Number(process.env.PORT ?? 8080), '0.0.0.0');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

/** `direct-fn`: the server above. */
export async function directFunctionImage(outDir: string): Promise<{ path: string; digest: string }> {
  return await writeImageArchive(
    nodeImage([{ path: 'app/server.mjs', type: 'file', mode: 0o644, content: SERVER }]),
    'oci',
    join(outDir, 'direct-fn.oci.tar'),
  );
}

export interface Sends {
  direct: number;
  nats: number;
}

/** A gateway's `thaw_gateway_call_sends_total` by transport (GET /metrics needs no token). */
export async function callSends(gatewayUrl: string): Promise<Sends> {
  const text = await (await fetch(`${gatewayUrl}/metrics`)).text();
  const read = (via: string) => {
    const m = new RegExp(`^thaw_gateway_call_sends_total\\{via="${via}"\\} (\\d+)$`, 'm').exec(text);
    if (!m) throw new Error(`no thaw_gateway_call_sends_total{via="${via}"} in the gateway's metrics`);
    return Number(m[1]);
  };
  return { direct: read('direct'), nats: read('nats') };
}

/** What `later` sent more than `before`. */
export function sendsSince(before: Sends, later: Sends): Sends {
  return { direct: later.direct - before.direct, nats: later.nats - before.nats };
}

/** The IPv4 address of a worker host's link out of its namespace: neither loopback nor its bridge. */
export function hostAddress(netns: string, bridge: string): string {
  const out = execFileSync('ip', ['-n', netns, '-o', '-4', 'addr', 'show'], { encoding: 'utf8' });
  const addrs = [...out.matchAll(/^\d+: (\S+)\s+inet (\d+\.\d+\.\d+\.\d+)\//gm)]
    .filter((m) => m[1] !== 'lo' && m[1] !== bridge)
    .map((m) => m[2] ?? '');
  if (addrs.length !== 1) throw new Error(`${netns}: expected one address on its link out:\n${out}`);
  return addrs[0] as string;
}
