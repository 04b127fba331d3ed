import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Container,
  ImageStore,
  Runtime,
  type StoredImage,
  scratchRuntimeOptions,
} from '../src/index.js';
import { buildTestImage } from '../src/testimages/index.js';
import { leftovers } from './leftovers.js';

// An "outside" host of the test's own: a network namespace behind a veth pair, with a TCP server
// that prints the address of every peer it hears from.
const tag = randomBytes(3).toString('hex');
const outside = `thaw-egress-${tag}-out`;
const hostVeth = `te${tag}`;
const octet = Number.parseInt(tag.slice(0, 2), 16);
const hostIp = `10.251.${octet}.1`;
const outsideIp = `10.251.${octet}.2`;
const ip = (...args: string[]) => execFileSync('ip', args);

const closed = scratchRuntimeOptions('egress');
const open = { ...scratchRuntimeOptions('egress'), egress: 'masquerade' as const };
let image: StoredImage;
let server: ReturnType<typeof spawn> | undefined;
const peers: string[] = [];

beforeAll(async () => {
  ip('netns', 'add', outside);
  ip('link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside);
  ip('addr', 'add', `${hostIp}/30`, 'dev', hostVeth);
  ip('link', 'set', hostVeth, 'up');
  ip('-n', outside, 'addr', 'add', `${outsideIp}/30`, 'dev', 'eth0');
  ip('-n', outside, 'link', 'set', 'eth0', 'up');
  ip('-n', outside, 'link', 'set', 'lo', 'up');
  // Routes back to the instances' subnets: without them an answer could never return, and a
  // probe would fail whether or not the firewall did its job.
  for (const o of [closed, open]) ip('-n', outside, 'route', 'add', o.subnet, 'via', hostIp);
  server = spawn(
    'ip',
    [
      'netns',
      'exec',
      outside,
      process.execPath,
      '-e',
      "require('net').createServer((s) => { s.on('error', () => {}); console.log(s.remoteAddress); s.end('outside\\n'); }).listen(9000, '0.0.0.0', () => console.log('listening'))",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  const listening = new Promise<void>((resolve, reject) => {
    server?.once('exit', (code) => reject(new Error(`the outside server exited with ${code}`)));
    server?.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const lines = out.split('\n');
      out = lines.pop() ?? '';
      for (const line of lines) {
        if (line === 'listening') resolve();
        else peers.push(line);
      }
    });
  });
  const built = await buildTestImage('node-hello', 'oci', join(closed.stateDir, 'archives'));
  image = await new ImageStore(join(closed.stateDir, 'images')).importArchive(built.path);
  await listening;
}, 120_000);

afterAll(async () => {
  server?.kill();
  execFileSync('ip', ['netns', 'delete', outside], { stdio: 'ignore' });
  for (const o of [closed, open]) {
    await rm(o.stateDir, { recursive: true, force: true });
    await rm(o.runDir, { recursive: true, force: true });
  }
});

/** The peers the outside server has printed, once it has printed `n` of them (its output lags). */
async function peersSeen(n: number): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  while (peers.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return [...peers];
}

async function probeOutside(c: Container): Promise<string> {
  const res = await fetch(`http://${c.ip}:8080/connect?host=${outsideIp}&port=9000&timeout=2000`, {
    signal: AbortSignal.timeout(10_000),
  });
  return ((await res.json()) as { result: string }).result;
}

describe('egress', () => {
  it('is off by default: the firewall drops an instance’s connections beyond the host', async () => {
    const { runtime } = await Runtime.open(closed);
    try {
      const c = await runtime.create({ image, port: 8080 });
      // A DROP, not a refusal: the connection attempt times out.
      expect(await probeOutside(c)).toBe('timeout');
      expect(peers).toEqual([]);
      // The same instance, with only the firewall's egress DROP taken away, does connect, with
      // its own address (no NAT): the route back works, so the timeout above was the firewall.
      execFileSync('iptables', [
        '-w',
        '5',
        '-D',
        `THAW-FW-${closed.bridge}`,
        '-i',
        closed.bridge,
        '-j',
        'DROP',
      ]);
      expect(await probeOutside(c)).toBe('connected');
      expect(await peersSeen(1)).toEqual([c.ip]);
    } finally {
      peers.length = 0;
      await runtime.close();
    }
    expect(await leftovers(runtime, closed, 'closed')).toEqual([]);
  }, 60_000);

  it('is masqueraded when configured, and its rules go with the runtime', async () => {
    const { runtime } = await Runtime.open(open);
    try {
      const c = await runtime.create({ image, port: 8080 });
      expect(await probeOutside(c)).toBe('connected');
      // The outside host saw the host's address, not the instance's.
      expect(await peersSeen(1)).toEqual([hostIp]);
    } finally {
      peers.length = 0;
      await runtime.close();
    }
    expect(execFileSync('iptables', ['-t', 'nat', '-S'], { encoding: 'utf8' })).not.toContain(
      `THAW-NAT-${open.bridge}`,
    );
    expect(await leftovers(runtime, open, 'closed')).toEqual([]);
  }, 60_000);
});
