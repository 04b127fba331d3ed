import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Service, startNats } from '@thaw/devkit';
import { ImageStore } from '@thaw/runtime';
import type { Resolver } from '@thaw/shared';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageFetcher } from '../../src/images/fetcher.js';

// Registry references are URLs a user chose: the worker must not fetch them from inside the
// host's network (cloud metadata, loopback services) unless its operator allows it.

let nats: Service;
let nc: NatsConnection;
let dir: string;
let store: ImageStore;
let server: Server;
let port: number;
let connections = 0;
const fakeDns: Resolver = async (host) =>
  host === 'metadata.test'
    ? [{ address: '169.254.169.254', family: 4 }]
    : [{ address: '203.0.113.9', family: 4 }];

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  dir = await mkdtemp(join(tmpdir(), 'thaw-imgguard-'));
  store = new ImageStore(join(dir, 'images'));
  // Counts connections and closes them: a pull that got this far would fail as unreachable.
  server = createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await nc?.close();
  await nats?.close();
  await rm(dir, { recursive: true, force: true });
});

const pull = (fetcher: ImageFetcher, reference: string) => fetcher.ensure({ kind: 'registry', reference });

describe('image pulls from private addresses', () => {
  it('refuses loopback, link-local and names resolving to them, before any connection', async () => {
    const fetcher = new ImageFetcher({ js: nc.jetstream(), store, resolve: fakeDns });
    const before = connections;
    for (const [reference, kind] of [
      [`127.0.0.1:${port}/team/app:1`, 'private, loopback or link-local'],
      ['169.254.169.254/latest/meta:1', 'private, loopback or link-local'],
      ['metadata.test/x/y:1', 'private, loopback or link-local'],
    ] as const) {
      const err = (await pull(fetcher, reference).catch((e: unknown) => e)) as {
        code?: string;
        message?: string;
      };
      expect(err.code, reference).toBe('IMAGE_PULL_FAILED');
      expect(err.message).toContain('refused');
      expect(err.message).toContain(kind);
      expect(err.message).toContain('THAW_REGISTRY_PRIVATE=allow');
    }
    expect(connections).toBe(before);
  });

  it('pulls from them when the worker allows it (THAW_REGISTRY_PRIVATE=allow)', async () => {
    const fetcher = new ImageFetcher({
      js: nc.jetstream(),
      store,
      pullOptions: { timeoutMs: 5000 },
      allowPrivateRegistries: true,
      resolve: fakeDns,
    });
    const before = connections;
    const err = (await pull(fetcher, `127.0.0.1:${port}/team/app:1`).catch((e: unknown) => e)) as {
      code?: string;
      message?: string;
    };
    expect(err.code).toBe('IMAGE_PULL_FAILED');
    expect(err.message).not.toContain('refused:');
    expect(connections).toBeGreaterThan(before);
  });
});
