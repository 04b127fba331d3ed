import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type SpooledArchive, type SpooledFile, spoolArchive } from './archive.js';
import { ImageDigestMismatchError, ImageInvalidError } from './errors.js';
import {
  canonicalManifest,
  type Descriptor,
  digestHex,
  type ImageConfigFile,
  type Manifest,
  MediaType,
  parseJson,
  sha256,
} from './manifest.js';
import { type PullOptions, pullToSpool } from './registry.js';
import { unpackLayer } from './unpack.js';

export interface ImageConfig {
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
  user: string;
}

export interface StoredImage {
  /** sha256 of the image manifest (derived for docker-archives, see canonicalManifest). */
  digest: string;
  config: ImageConfig;
  /** Unpacked layer directories, bottom layer first. */
  layers: string[];
  /** Bytes of all blobs. */
  size: number;
}

interface ImageRecordFile {
  digest: string;
  config: ImageConfig;
  diffIds: string[];
  /** sha256 hex of the manifest, config and layer blobs, so gc knows what an image holds. */
  blobs: string[];
  size: number;
}

export interface ImageStoreOptions {
  /** Most bytes one layer may unpack to (a decompression-bomb stop). */
  maxLayerBytes?: number;
}

/**
 * Content-addressed image store:
 *   blobs/sha256/<hex>      verified blobs (manifest, config, layers as shipped)
 *   layers/<diffid-hex>/    unpacked layers, shared across images
 *   images/<hex>.json       one record per image digest
 * Everything appears by rename once complete, so a crash never leaves a half-written entry in
 * use, and two imports of one image at once both succeed.
 */
export class ImageStore {
  private readonly maxLayerBytes: number;
  private readonly layerJobs = new Map<string, Promise<void>>();

  constructor(
    readonly root: string,
    opts: ImageStoreOptions = {},
  ) {
    this.maxLayerBytes = opts.maxLayerBytes ?? 8 * 1024 ** 3;
  }

  private layerDir(diffHex: string): string {
    return join(this.root, 'layers', diffHex);
  }

  async get(digest: string): Promise<StoredImage | undefined> {
    const m = /^sha256:([a-f0-9]{64})$/.exec(digest);
    if (!m) return undefined;
    const text = await readFile(join(this.root, 'images', `${m[1]}.json`), 'utf8').catch(() => undefined);
    if (!text) return undefined;
    const rec = JSON.parse(text) as ImageRecordFile;
    return {
      digest: rec.digest,
      config: rec.config,
      size: rec.size,
      layers: rec.diffIds.map((d) => this.layerDir(d)),
    };
  }

  async importArchive(source: string | NodeJS.ReadableStream): Promise<StoredImage> {
    const tmp = join(this.root, 'tmp');
    await mkdir(tmp, { recursive: true });
    return await this.importSpooled(await spoolArchive(source, tmp));
  }

  /**
   * Pulls `reference` (e.g. "localhost:5000/team/fn:1.2") over the registry API and imports it
   * with the same checks as an archive.
   */
  async pull(reference: string, opts: PullOptions = {}): Promise<StoredImage> {
    const tmp = join(this.root, 'tmp');
    await mkdir(tmp, { recursive: true });
    return await this.importSpooled(await pullToSpool(reference, tmp, opts));
  }

  /** Imports what an archive or a pull left on disk; removes it afterwards either way. */
  private async importSpooled(archive: SpooledArchive): Promise<StoredImage> {
    try {
      const { digest, manifest, manifestBytes } = resolveManifest(archive);
      const configFile = blobFile(archive, manifest.config, 'image config');
      const configText = await readFile(configFile.path, 'utf8');
      const config = parseJson<ImageConfigFile>(configText, 'image config');
      const diffIds = (config.rootfs?.diff_ids ?? []).map((d, i) => digestHex(d, `diff_id ${i}`));
      if (diffIds.length !== manifest.layers.length) {
        throw new ImageInvalidError(
          `the config lists ${diffIds.length} layer diff_ids but the manifest has ${manifest.layers.length} layers`,
        );
      }
      if (diffIds.length === 0) throw new ImageInvalidError('the image has no layers');
      const layerFiles = manifest.layers.map((l, i) => blobFile(archive, l, `layer ${i}`));
      await Promise.all(layerFiles.map((f, i) => this.ensureLayer(f, diffIds[i] as string)));
      const hex = digestHex(digest, 'manifest');
      await this.keepBlob(manifestBytes, hex);
      await this.keepFile(configFile);
      for (const f of layerFiles) await this.keepFile(f);
      const c = config.config ?? {};
      const stored: ImageRecordFile = {
        digest,
        config: {
          entrypoint: c.Entrypoint ?? [],
          cmd: c.Cmd ?? [],
          env: c.Env ?? [],
          workingDir: c.WorkingDir ?? '',
          user: c.User ?? '',
        },
        diffIds,
        blobs: [hex, configFile.sha256, ...layerFiles.map((f) => f.sha256)],
        size: configFile.size + layerFiles.reduce((a, f) => a + f.size, 0),
      };
      await this.writeAtomic(join(this.root, 'images', `${hex}.json`), JSON.stringify(stored));
      return {
        digest,
        config: stored.config,
        size: stored.size,
        layers: diffIds.map((d) => this.layerDir(d)),
      };
    } finally {
      await archive.cleanup();
    }
  }

  /** Digests of every stored image. */
  async list(): Promise<string[]> {
    const names = await readdir(join(this.root, 'images')).catch(() => [] as string[]);
    return names.filter((n) => /^[a-f0-9]{64}\.json$/.test(n)).map((n) => `sha256:${n.slice(0, 64)}`);
  }

  /**
   * Removes every image not in `keep`, then the layers and blobs no kept image uses. The caller
   * names what is in use (images of deployed functions and of running containers): a layer
   * under a mounted rootfs must stay.
   */
  async gc(keep: Iterable<string>): Promise<{ images: string[]; layers: string[]; blobs: string[] }> {
    const kept = new Set(keep);
    const removed = { images: [] as string[], layers: [] as string[], blobs: [] as string[] };
    const liveLayers = new Set<string>();
    const liveBlobs = new Set<string>();
    for (const digest of await this.list()) {
      const hex = digest.slice(7);
      const recPath = join(this.root, 'images', `${hex}.json`);
      if (!kept.has(digest)) {
        await rm(recPath, { force: true });
        removed.images.push(digest);
        continue;
      }
      const rec = JSON.parse(await readFile(recPath, 'utf8')) as ImageRecordFile & { blobs?: string[] };
      for (const d of rec.diffIds) liveLayers.add(d);
      liveBlobs.add(hex);
      for (const b of rec.blobs ?? []) liveBlobs.add(b);
    }
    for (const d of await readdir(join(this.root, 'layers')).catch(() => [] as string[])) {
      if (liveLayers.has(d) || this.layerJobs.has(d)) continue;
      await rm(join(this.root, 'layers', d), { recursive: true, force: true });
      removed.layers.push(d);
    }
    for (const b of await readdir(join(this.root, 'blobs', 'sha256')).catch(() => [] as string[])) {
      if (liveBlobs.has(b)) continue;
      await rm(join(this.root, 'blobs', 'sha256', b), { force: true });
      removed.blobs.push(b);
    }
    return removed;
  }

  private ensureLayer(file: SpooledFile, diffHex: string): Promise<void> {
    const dir = this.layerDir(diffHex);
    if (existsSync(dir)) return Promise.resolve();
    let job = this.layerJobs.get(diffHex);
    if (!job) {
      job = (async () => {
        const tmp = join(this.root, 'tmp', `layer-${randomUUID()}`);
        try {
          await unpackLayer(file.path, tmp, { diffId: diffHex, maxBytes: this.maxLayerBytes });
          await mkdir(join(this.root, 'layers'), { recursive: true });
          // Another process may have finished the same layer meanwhile: keep theirs.
          await rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
            if (!existsSync(dir)) throw err;
          });
        } finally {
          await rm(tmp, { recursive: true, force: true });
        }
      })().finally(() => this.layerJobs.delete(diffHex));
      this.layerJobs.set(diffHex, job);
    }
    return job;
  }

  private async keepFile(f: SpooledFile): Promise<void> {
    const dest = join(this.root, 'blobs', 'sha256', f.sha256);
    if (existsSync(dest)) return;
    await mkdir(join(this.root, 'blobs', 'sha256'), { recursive: true });
    await rename(f.path, dest).catch(() => undefined);
  }

  private async keepBlob(bytes: Buffer, hex: string): Promise<void> {
    const dest = join(this.root, 'blobs', 'sha256', hex);
    if (!existsSync(dest)) await this.writeAtomic(dest, bytes);
  }

  private async writeAtomic(path: string, data: string | Buffer): Promise<void> {
    await mkdir(join(path, '..'), { recursive: true });
    const tmp = `${path}.${randomUUID()}.tmp`;
    await writeFile(tmp, data);
    await rename(tmp, path);
  }
}

/**
 * A regular file of the archive. Links are followed to other files of the archive (legacy
 * `docker save` stores a repeated layer as a symlink to the first copy); a link that leaves the
 * archive, or loops, is refused.
 */
function fileAt(archive: SpooledArchive, name: string, what: string): SpooledFile {
  let cur = name;
  for (let hops = 0; archive.links.has(cur); hops++) {
    const next = archive.links.get(cur);
    if (next === null || next === undefined || hops >= 8) {
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
  if (f.size > 4 * 1024 * 1024) throw new ImageInvalidError('a manifest or index is larger than 4 MiB');
  return readFileSync(f.path, 'utf8');
}

/** The blob a descriptor names, checked against its digest and size. */
function blobFile(archive: SpooledArchive, d: Descriptor, what: string, path?: string): SpooledFile {
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

function resolveManifest(archive: SpooledArchive): {
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
