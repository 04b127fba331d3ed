import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { SpooledArchive, SpooledFile } from './archive.js';
import { ImageDigestMismatchError, ImageInvalidError } from './errors.js';
import { type Descriptor, digestHex, MediaType, parseJson } from './manifest.js';

export type RegistryErrorKind = 'auth' | 'not-found' | 'unreachable' | 'refused';

/** A pull failed for a reason the registry (or the way to it) gave. */
export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  constructor(
    readonly kind: RegistryErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isRegistryError(err: unknown): err is RegistryError {
  return err instanceof RegistryError;
}

export interface Credentials {
  username: string;
  password: string;
}

export interface PullOptions {
  /** Registries (host[:port]) reached over plain HTTP; loopback ones always are. */
  insecureRegistries?: string[];
  /** Credentials for a registry (host[:port]), used for Basic auth and to get Bearer tokens. */
  credentials?: (registry: string) => Credentials | undefined;
  /** Per-request timeout. */
  timeoutMs?: number;
}

export interface ImageReference {
  registry: string;
  repository: string;
  /** A tag, or a digest ("sha256:..."). */
  reference: string;
}

const MANIFEST_TYPES = [
  MediaType.ociIndex,
  MediaType.ociManifest,
  MediaType.dockerList,
  MediaType.dockerManifest,
];

/** Parses "host[:port]/path/name[:tag|@digest]"; a registry host is required (there is no default hub). */
export function parseReference(ref: string): ImageReference {
  const slash = ref.indexOf('/');
  const host = slash > 0 ? ref.slice(0, slash) : '';
  if (!host || !(host.includes('.') || host.includes(':') || host === 'localhost')) {
    throw new ImageInvalidError(`"${ref}" names no registry host; write it as host[:port]/repository[:tag]`);
  }
  let rest = ref.slice(slash + 1);
  let reference = 'latest';
  const at = rest.indexOf('@');
  if (at >= 0) {
    reference = rest.slice(at + 1);
    rest = rest.slice(0, at);
    digestHex(reference, 'reference');
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon > rest.lastIndexOf('/')) {
      reference = rest.slice(colon + 1);
      rest = rest.slice(0, colon);
    }
  }
  if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(rest)) {
    throw new ImageInvalidError(`"${rest}" is not a valid repository name`);
  }
  if (at < 0 && !/^[\w][\w.-]{0,127}$/.test(reference))
    throw new ImageInvalidError(`"${reference}" is not a valid tag`);
  return { registry: host, repository: rest, reference };
}

/** Plain HTTP only for loopback registries and those configured as insecure. */
export function registryScheme(registry: string, insecure: string[] = []): 'http' | 'https' {
  const host = registry.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || /^127\./.test(host);
  return loopback || insecure.includes(registry) ? 'http' : 'https';
}

/** Reads `key="value"` pairs of a WWW-Authenticate challenge. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  for (const m of header.slice(space + 1).matchAll(/(\w+)="([^"]*)"/g))
    params[m[1] as string] = m[2] as string;
  return { scheme, params };
}

class RegistryClient {
  private readonly base: string;
  private authorization: string | undefined;

  constructor(
    private readonly ref: ImageReference,
    private readonly opts: PullOptions,
  ) {
    this.base = `${registryScheme(ref.registry, opts.insecureRegistries)}://${ref.registry}/v2/${ref.repository}`;
  }

  private async send(url: string, headers: Record<string, string>): Promise<Response> {
    try {
      return await fetch(url, {
        headers: this.authorization ? { ...headers, authorization: this.authorization } : headers,
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 60_000),
      });
    } catch (err) {
      throw new RegistryError(
        'unreachable',
        `registry ${this.ref.registry} is unreachable: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  /** GET with the registry's auth dance: 401 + challenge → Basic, or a Bearer token → retry once. */
  async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    const url = `${this.base}${path}`;
    let res = await this.send(url, headers);
    if (res.status === 401 && !this.authorization) {
      await res.body?.cancel();
      await this.authenticate(res.headers.get('www-authenticate') ?? '');
      res = await this.send(url, headers);
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw new RegistryError(
        'auth',
        `registry ${this.ref.registry} refused access to ${this.ref.repository} (${res.status})`,
      );
    }
    if (res.status === 404) {
      await res.body?.cancel();
      throw new RegistryError(
        'not-found',
        `${this.ref.registry}/${this.ref.repository}:${this.ref.reference} not found`,
      );
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new RegistryError('refused', `registry ${this.ref.registry} answered ${res.status} for ${path}`);
    }
    return res;
  }

  private async authenticate(header: string): Promise<void> {
    const creds = this.opts.credentials?.(this.ref.registry);
    const basic = creds
      ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`
      : undefined;
    const { scheme, params } = parseChallenge(header);
    if (scheme === 'basic') {
      if (!basic) throw new RegistryError('auth', `registry ${this.ref.registry} needs credentials`);
      this.authorization = basic;
      return;
    }
    if (scheme !== 'bearer' || !params.realm) {
      throw new RegistryError('auth', `registry ${this.ref.registry} asks for unsupported auth "${header}"`);
    }
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', params.scope ?? `repository:${this.ref.repository}:pull`);
    let res: Response;
    try {
      res = await fetch(url, {
        headers: basic ? { authorization: basic } : {},
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 60_000),
      });
    } catch (err) {
      throw new RegistryError('unreachable', `token service ${url.origin} is unreachable`, { cause: err });
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new RegistryError('auth', `token service ${url.origin} refused the credentials (${res.status})`);
    }
    const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError('auth', `token service ${url.origin} returned no token`);
    this.authorization = `Bearer ${token}`;
  }
}

async function readManifest(
  client: RegistryClient,
  reference: string,
): Promise<{ bytes: Buffer; digest: string; type: string }> {
  const res = await client.get(`/manifests/${reference}`, { accept: MANIFEST_TYPES.join(', ') });
  const bytes = Buffer.from(await res.arrayBuffer());
  if (bytes.length > 4 * 1024 * 1024) throw new ImageInvalidError('the manifest is larger than 4 MiB');
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const claimed = res.headers.get('docker-content-digest');
  if ((claimed && claimed !== digest) || (reference.startsWith('sha256:') && reference !== digest)) {
    throw new ImageDigestMismatchError(
      `manifest digest mismatch: expected ${claimed ?? reference}, got ${digest}`,
    );
  }
  return { bytes, digest, type: (res.headers.get('content-type') ?? '').split(';')[0] ?? '' };
}

async function download(client: RegistryClient, d: Descriptor, dir: string): Promise<SpooledFile> {
  digestHex(d.digest, 'blob');
  const res = await client.get(`/blobs/${d.digest}`);
  if (!res.body) throw new ImageInvalidError(`blob ${d.digest} has no body`);
  const path = join(dir, randomUUID());
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(
    Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>),
    new Transform({
      transform(chunk: Buffer, _e, cb) {
        size += chunk.length;
        // A blob may not be longer than its descriptor says.
        if (size > d.size)
          return cb(new ImageDigestMismatchError(`blob ${d.digest} is longer than ${d.size} bytes`));
        hash.update(chunk);
        cb(null, chunk);
      },
    }),
    createWriteStream(path),
  );
  return { path, sha256: hash.digest('hex'), size };
}

/**
 * Fetches the manifest (choosing this host's platform from an index), the config and the layers
 * into a spool folder laid out like an OCI archive, for ImageStore to verify and import.
 */
export async function pullToSpool(
  reference: string,
  tmpRoot: string,
  opts: PullOptions,
): Promise<SpooledArchive> {
  const ref = parseReference(reference);
  const client = new RegistryClient(ref, opts);
  const dir = join(tmpRoot, `pull-${randomUUID()}`);
  await mkdir(dir, { recursive: true });
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    const files = new Map<string, SpooledFile>();
    const keep = async (bytes: Buffer, digest: string) => {
      const path = join(dir, randomUUID());
      await writeFile(path, bytes);
      files.set(`blobs/sha256/${digestHex(digest, 'manifest')}`, {
        path,
        sha256: digestHex(digest, 'manifest'),
        size: bytes.length,
      });
    };
    let top = await readManifest(client, ref.reference);
    await keep(top.bytes, top.digest);
    const doc = parseJson<{ manifests?: Descriptor[]; mediaType?: string }>(
      top.bytes.toString('utf8'),
      'manifest',
    );
    let entry: Descriptor = { mediaType: top.type, digest: top.digest, size: top.bytes.length };
    if (doc.manifests) {
      // An index: the archive importer picks the platform; fetch every linux manifest it might pick.
      const arch = process.arch === 'x64' ? 'amd64' : process.arch;
      const match = doc.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === arch);
      if (!match) {
        const have = doc.manifests.map((m) => `${m.platform?.os}/${m.platform?.architecture}`).join(', ');
        throw new ImageInvalidError(`${reference} has no linux/${arch} image (it has ${have})`);
      }
      top = await readManifest(client, match.digest);
      await keep(top.bytes, top.digest);
      entry = { ...match, platform: { os: 'linux', architecture: arch } };
    }
    const manifest = parseJson<{ config?: Descriptor; layers?: Descriptor[] }>(
      top.bytes.toString('utf8'),
      'manifest',
    );
    if (!manifest.config || !Array.isArray(manifest.layers))
      throw new ImageInvalidError('the manifest has no config or layers');
    for (const d of [manifest.config, ...manifest.layers]) {
      const f = await download(client, d, dir);
      files.set(`blobs/sha256/${f.sha256}`, f);
    }
    const indexPath = join(dir, 'index.json');
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [entry] }));
    await writeFile(indexPath, index);
    files.set('index.json', { path: indexPath, sha256: '', size: index.length });
    return { dir, files, links: new Map(), cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
