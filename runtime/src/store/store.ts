import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type SpooledArchive, type SpooledFile, spoolArchive } from './archive.js';
import { ImageInvalidError } from './errors.js';
import { digestHex, type ImageConfigFile, parseJson } from './manifest.js';
import { type PullOptions, pullToSpool } from './registry/index.js';
import { blobFile, resolveManifest } from './resolve.js';
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

/** Default bound of one unpacked layer: 8 GiB. */
export const DEFAULT_MAX_LAYER_BYTES = 8 * 1024 ** 3;

export interface ImageStoreOptions {
  /** Most bytes one layer may unpack to (a decompression-bomb stop; default 8 GiB). */
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
    this.maxLayerBytes = opts.maxLayerBytes ?? DEFAULT_MAX_LAYER_BYTES;
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
