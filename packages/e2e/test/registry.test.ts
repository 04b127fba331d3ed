import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Service, startRegistry } from '@thaw/devkit';
import {
  ImageDigestMismatchError,
  ImageStore,
  parseReference,
  RegistryError,
  registryScheme,
} from '@thaw/runtime';
import { buildTestImage } from '@thaw/runtime/testimages';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let registry: Service;
let dir: string;
let host: string;
let localLayers: string[];

type Mode = 'bearer' | 'basic' | 'bad-digest';
/**
 * An auth front for the registry, as a hosted registry has: Bearer tokens from /token for
 * user:secret, or plain Basic auth; 'bad-digest' lies in Docker-Content-Digest.
 */
async function authProxy(mode: Mode): Promise<{ host: string; server: Server }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const basicOk = req.headers.authorization === `Basic ${Buffer.from('user:secret').toString('base64')}`;
    const self = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (req.url?.startsWith('/token')) {
      if (!basicOk) return void res.writeHead(401).end();
      return void res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ token: 'tok-123' }));
    }
    const authorized =
      mode === 'bad-digest' || (mode === 'basic' ? basicOk : req.headers.authorization === 'Bearer tok-123');
    if (!authorized) {
      const challenge =
        mode === 'basic'
          ? 'Basic realm="test"'
          : `Bearer realm="http://${self}/token",service="test-registry",scope="repository:team/bb:pull"`;
      return void res.writeHead(401, { 'www-authenticate': challenge }).end();
    }
    const upstream = new URL(registry.url);
    const fwd = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: req.method,
        headers: { accept: req.headers.accept ?? '*/*' },
      },
      (up) => {
        const headers = { ...up.headers };
        if (mode === 'bad-digest' && headers['docker-content-digest'])
          headers['docker-content-digest'] = `sha256:${'0'.repeat(64)}`;
        res.writeHead(up.statusCode ?? 502, headers);
        up.pipe(res);
      },
    );
    fwd.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'thaw-pull-'));
  registry = await startRegistry();
  host = new URL(registry.url).host;
  const img = await buildTestImage('busybox-httpd', 'oci', dir);
  localLayers = (await new ImageStore(join(dir, 'local')).importArchive(img.path)).layers.map(
    (l) => l.split('/').pop() as string,
  );
  execFileSync('skopeo', [
    'copy',
    '--dest-tls-verify=false',
    `oci-archive:${img.path}`,
    `docker://${host}/team/bb:1.0`,
  ]);
}, 60_000);

afterAll(async () => {
  await registry?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('registry references', () => {
  it('parse host, repository and tag or digest', () => {
    expect(parseReference('localhost:5000/team/fn:1.2')).toEqual({
      registry: 'localhost:5000',
      repository: 'team/fn',
      reference: '1.2',
    });
    expect(parseReference('reg.example.com/a/b')).toMatchObject({ reference: 'latest' });
    const d = `sha256:${'a'.repeat(64)}`;
    expect(parseReference(`reg.example.com/a@${d}`)).toMatchObject({ repository: 'a', reference: d });
    expect(() => parseReference('team/fn:1.2')).toThrow(/no registry host/);
    expect(() => parseReference('reg.example.com/UPPER')).toThrow(/not a valid repository/);
  });
  it('use plain HTTP only for loopback and configured registries', () => {
    expect(registryScheme('127.0.0.1:5000')).toBe('http');
    expect(registryScheme('localhost:5000')).toBe('http');
    expect(registryScheme('reg.example.com')).toBe('https');
    expect(registryScheme('reg.internal:5000', ['reg.internal:5000'])).toBe('http');
  });
});

describe('pulling from a registry', () => {
  it('pulls anonymously and gets the same layers as the archive', async () => {
    const store = new ImageStore(join(dir, 'anon'));
    const img = await store.pull(`${host}/team/bb:1.0`);
    expect(img.layers.map((l) => l.split('/').pop())).toEqual(localLayers);
    expect(img.config.entrypoint[0]).toBe('/bin/sh');
    // By digest too, checked against the bytes.
    expect((await store.pull(`${host}/team/bb@${img.digest}`)).digest).toBe(img.digest);
  });

  it('answers not-found for an unknown tag', async () => {
    const err = await new ImageStore(join(dir, 'nf')).pull(`${host}/team/bb:nope`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).kind).toBe('not-found');
  });

  it.each(['bearer', 'basic'] as const)(
    'pulls behind %s auth with credentials, and refuses without',
    async (mode) => {
      const { host: front, server } = await authProxy(mode);
      try {
        const creds = () => ({ username: 'user', password: 'secret' });
        const img = await new ImageStore(join(dir, `auth-${mode}`)).pull(`${front}/team/bb:1.0`, {
          credentials: creds,
        });
        expect(img.layers.map((l) => l.split('/').pop())).toEqual(localLayers);
        const wrong = () => ({ username: 'user', password: 'wrong' });
        const err = await new ImageStore(join(dir, `noauth-${mode}`))
          .pull(`${front}/team/bb:1.0`, { credentials: wrong })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(RegistryError);
        expect((err as RegistryError).kind).toBe('auth');
      } finally {
        server.close();
      }
    },
  );

  it('refuses a manifest whose Docker-Content-Digest does not match', async () => {
    const { host: front, server } = await authProxy('bad-digest');
    try {
      const err = await new ImageStore(join(dir, 'bad'))
        .pull(`${front}/team/bb:1.0`)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ImageDigestMismatchError);
    } finally {
      server.close();
    }
  });
});
