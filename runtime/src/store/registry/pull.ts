import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { SpooledArchive, SpooledFile } from '../archive.js';
import { ImageDigestMismatchError, ImageInvalidError } from '../errors.js';
import { type Descriptor, digestHex, MAX_MANIFEST_BYTES, MediaType, parseJson } from '../manifest.js';
import { RegistryClient } from './client.js';
import { type PullOptions, parseReference } from './reference.js';

const MANIFEST_TYPES = [
  MediaType.ociIndex,
  MediaType.ociManifest,
  MediaType.dockerList,
  MediaType.dockerManifest,
];

async function readManifest(
  client: RegistryClient,
  reference: string,
): Promise<{ bytes: Buffer; digest: string; type: string }> {
  const res = await client.get(`/manifests/${reference}`, { accept: MANIFEST_TYPES.join(', ') });
  const bytes = Buffer.from(await res.arrayBuffer());
  if (bytes.length > MAX_MANIFEST_BYTES) throw new ImageInvalidError('the manifest is larger than 4 MiB');
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
