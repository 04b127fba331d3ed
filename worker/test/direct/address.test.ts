/**
 * The direct link's default address (THAW_DIRECT_HOST unset): the local address this host reaches
 * NATS from, found by dialling the NATS servers in the list until one answers.
 */
import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { type Service, startNats } from '@thaw/devkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressTowardNats } from '../../src/direct/address.js';

let nats: Service;

beforeAll(async () => {
  nats = await startNats();
});
afterAll(async () => {
  await nats?.close();
});

/** A port nothing listens on: one the kernel just gave out and was closed again. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const at = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  if (!at || typeof at === 'string') throw new Error('no port');
  return at.port;
}

/** This host's first IPv4 address that is not loopback. */
function outerAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

describe('addressTowardNats', () => {
  it('gives loopback for a NATS server on this host', async () => {
    expect(nats.url).toMatch(/127\.0\.0\.1/);
    expect(await addressTowardNats(nats.url)).toBe('127.0.0.1');
  });

  it('gives the address a NATS server is reached from, not loopback, when NATS is dialled on another', async () => {
    const ip = outerAddress();
    if (!ip) throw new Error('this host has no IPv4 address but loopback: the test needs one');
    const outer = await startNats({ listen: ip });
    try {
      expect(await addressTowardNats(outer.url)).toBe(ip);
    } finally {
      await outer.close();
    }
  });

  it('gives this end of the connection, not the server’s address (127.0.0.2 is reached from 127.0.0.1)', async () => {
    const other = await startNats({ listen: '127.0.0.2' });
    try {
      expect(other.url).toMatch(/127\.0\.0\.2/);
      expect(await addressTowardNats(other.url)).toBe('127.0.0.1');
    } finally {
      await other.close();
    }
  });

  it('skips a dead server of the list for a live one', async () => {
    const dead = `nats://127.0.0.1:${await closedPort()}`;
    expect(await addressTowardNats(`${dead}, ${nats.url}`)).toBe('127.0.0.1');
  });

  it('says to set THAW_DIRECT_HOST, naming every server tried, when none answers', async () => {
    const a = `127.0.0.1:${await closedPort()}`;
    const b = `nats://127.0.0.1:${await closedPort()}`;
    const err = await addressTowardNats(`${a},${b}`).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/set THAW_DIRECT_HOST/);
    expect(err?.message).toContain(`${a}: connect ECONNREFUSED`);
    expect(err?.message).toContain(`${b}: connect ECONNREFUSED`);
  });
});
