import { readFileSync } from 'node:fs';
import type { SpooledArchive, SpooledFile } from './archive.js';
import { ImageDigestMismatchError, ImageInvalidError } from './errors.js';
import {
  canonicalManifest,
  type Descriptor,
  digestHex,
  MAX_MANIFEST_BYTES,
  type Manifest,
  MediaType,
  parseJson,
  sha256,
} from './manifest.js';

/** Most links followed from one name inside an archive. */
const MAX_LINK_HOPS = 8;

/**
 * A regular file of the archive. Links are followed to other files of the archive (legacy
 * `docker save` stores a repeated layer as a symlink to the first copy); a link that leaves the
 * archive, or loops, is refused.
 */
function fileAt(archive: SpooledArchive, name: string, what: string): SpooledFile {
  let cur = name;
  for (let hops = 0; archive.links.has(cur); hops++) {
    const next = archive.links.get(cur);
    if (next === null || next === undefined || hops >= MAX_LINK_HOPS) {
      throw new ImageInvalidError(`${what} "${name}" is a link that leaves the archive or loops; refused`);
    }
    cur = next;
  }
  const f = archive.files.get(cur);
  if (!f) throw new ImageInvalidError(`${what} "${name}" is missing from the archive`);
  return f;
}

function readSmall(f: SpooledFile): string {
  // Manifests and indexes are small; the limit stops a huge "manifest" from being read whole.
  if (f.size > MAX_MANIFEST_BYTES) throw new ImageInvalidError('a manifest or index is larger than 4 MiB');
  return readFileSync(f.path, 'utf8');
}

/** The blob a descriptor names, checked against its digest and size. */
export function blobFile(archive: SpooledArchive, d: Descriptor, what: string, path?: string): SpooledFile {
  const hex = digestHex(d.digest, what);
  const f = fileAt(archive, path ?? `blobs/sha256/${hex}`, what);
  if (f.sha256 !== hex) {
    throw new ImageDigestMismatchError(
      `${what} digest mismatch: expected sha256:${hex}, the content is sha256:${f.sha256}`,
    );
  }
  if (typeof d.size === 'number' && d.size !== f.size) {
    throw new ImageDigestMismatchError(`${what} size mismatch: expected ${d.size} bytes, found ${f.size}`);
  }
  return f;
}

function pickPlatform(index: { manifests?: Descriptor[] }, what: string): Descriptor {
  const list = index.manifests ?? [];
  if (list.length === 0) throw new ImageInvalidError(`${what} lists no manifests`);
  const withPlatform = list.filter((m) => m.platform);
  if (withPlatform.length === 0) return list[0] as Descriptor;
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const match = withPlatform.find((m) => m.platform?.os === 'linux' && m.platform.architecture === arch);
  if (!match) {
    const have = withPlatform.map((m) => `${m.platform?.os}/${m.platform?.architecture}`).join(', ');
    throw new ImageInvalidError(`the image has no linux/${arch} variant (it has ${have})`);
  }
  return match;
}

export function resolveManifest(archive: SpooledArchive): {
  digest: string;
  manifest: Manifest;
  manifestBytes: Buffer;
} {
  if (archive.files.has('index.json')) {
    let desc = pickPlatform(
      parseJson(readSmall(fileAt(archive, 'index.json', 'index')), 'index.json'),
      'index.json',
    );
    for (let depth = 0; ; depth++) {
      const f = blobFile(archive, desc, 'manifest');
      const text = readSmall(f);
      const doc = parseJson<Manifest & { manifests?: Descriptor[]; mediaType?: string }>(text, 'manifest');
      if (
        doc.manifests &&
        (doc.mediaType === MediaType.ociIndex || doc.mediaType === MediaType.dockerList || !doc.config)
      ) {
        if (depth > 2) throw new ImageInvalidError('image indexes nest too deeply');
        desc = pickPlatform(doc, 'image index');
        continue;
      }
      if (!doc.config || !Array.isArray(doc.layers))
        throw new ImageInvalidError('the manifest has no config or layers');
      return { digest: desc.digest, manifest: doc, manifestBytes: Buffer.from(text) };
    }
  }
  if (archive.files.has('manifest.json')) {
    const list = parseJson<{ Config?: string; Layers?: string[] }[]>(
      readSmall(fileAt(archive, 'manifest.json', 'manifest.json')),
      'manifest.json',
    );
    const entry = list[0];
    if (!entry?.Config || !Array.isArray(entry.Layers))
      throw new ImageInvalidError('manifest.json has no Config or Layers');
    const named = (p: string, what: string) => {
      if (p.split('/').includes('..') || p.startsWith('/'))
        throw new ImageInvalidError(`${what} path "${p}" is not allowed`);
      return fileAt(
        archive,
        p
          .split('/')
          .filter((x) => x && x !== '.')
          .join('/'),
        what,
      );
    };
    const cfg = named(entry.Config, 'config');
    const configDesc: Descriptor = {
      mediaType: MediaType.ociConfig,
      digest: `sha256:${cfg.sha256}`,
      size: cfg.size,
    };
    const layers: Descriptor[] = entry.Layers.map((p, i) => {
      const f = named(p, `layer ${i}`);
      return { mediaType: MediaType.ociLayer, digest: `sha256:${f.sha256}`, size: f.size };
    });
    const text = canonicalManifest(configDesc, layers);
    // The derived manifest names blobs by content, which the spooled files have by construction.
    for (const [i, p] of [entry.Config, ...entry.Layers].entries()) {
      const f = named(p, i === 0 ? 'config' : `layer ${i - 1}`);
      archive.files.set(`blobs/sha256/${f.sha256}`, f);
    }
    return {
      digest: `sha256:${sha256(text)}`,
      manifest: parseJson<Manifest>(text, 'manifest'),
      manifestBytes: Buffer.from(text),
    };
  }
  throw new ImageInvalidError(
    'the archive is neither an OCI image layout (index.json) nor a docker-archive (manifest.json)',
  );
}
