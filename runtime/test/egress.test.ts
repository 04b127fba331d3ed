import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestImage } from '../src/build/index.js';
import { ImageStore, Runtime, residueItems, type StoredImage, scratchRuntimeOptions } from '../src/index.js';

// An "outside" host of the test's own: a network namespace behind a veth pair, with a TCP server.
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

beforeAll(async () => {
  ip('netns', 'add', outside);
  ip('link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside);
  ip('addr', 'add', `${hostIp}/30`, 'dev', hostVeth);
  ip('link', 'set', hostVeth, 'up');
  ip('-n', outside, 'addr', 'add', `${outsideIp}/30`, 'dev', 'eth0');
  ip('-n', outside, 'link', 'set', 'eth0', 'up');
  ip('-n', outside, 'link', 'set', 'lo', 'up');
  server = spawn('ip', [
    'netns',
    'exec',
    outside,
    process.execPath,
    '-e',
    "require('net').createServer((s) => s.end('outside\\n')).listen(9000, '0.0.0.0')",
  ]);
  const built = await buildTestImage('node-hello', 'oci', join(closed.stateDir, 'archives'));
  image = await new ImageStore(join(closed.stateDir, 'images')).importArchive(built.path);
}, 120_000);

afterAll(async () => {
  server?.kill();
  execFileSync('ip', ['netns', 'delete', outside], { stdio: 'ignore' });
  for (const o of [closed, open]) {
    await rm(o.stateDir, { recursive: true, force: true });
    await rm(o.runDir, { recursive: true, force: true });
  }
});

async function probeOutside(o: typeof closed | typeof open): Promise<string> {
  const { runtime } = await Runtime.open(o);
  try {
    const c = await runtime.create({ image, port: 8080 });
    const res = await fetch(`http://${c.ip}:8080/connect?host=${outsideIp}&port=9000&timeout=1000`);
    return ((await res.json()) as { result: string }).result;
  } finally {
    await runtime.close();
    expect(residueItems(await runtime.residue())).toEqual([]);
  }
}

describe('egress', () => {
  it('is off by default: an instance cannot open connections beyond the host', async () => {
    expect(await probeOutside(closed)).not.toBe('connected');
  }, 60_000);

  it('is masqueraded when configured, and its rules go with the runtime', async () => {
    expect(await probeOutside(open)).toBe('connected');
    expect(execFileSync('iptables', ['-t', 'nat', '-S'], { encoding: 'utf8' })).not.toContain(
      `THAW-NAT-${open.bridge}`,
    );
  }, 60_000);
});
