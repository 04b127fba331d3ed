import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { type Pack, pack } from 'tar-stream';
import { canonicalManifest, type Descriptor, MediaType } from '../store/manifest.js';

/** One entry of a layer: a host file copied in, literal content, a directory or a symlink. */
export type LayerEntry =
  | { path: string; type: 'file'; mode: number; source: string }
  | { path: string; type: 'file'; mode: number; content: string | Buffer }
  | { path: string; type: 'dir'; mode: number }
  | { path: string; type: 'symlink'; target: string };

export interface LayerDefinition {
  entries: LayerEntry[];
  /** gzip the layer blob in OCI archives (docker-archives always carry plain tars). */
  gzip?: boolean;
}

export interface ImageDefinition {
  layers: LayerDefinition[];
  config: {
    Entrypoint?: string[];
    Cmd?: string[];
    Env?: string[];
    WorkingDir?: string;
    User?: string;
    ExposedPorts?: Record<string, object>;
  };
}

export type ArchiveFormat = 'oci' | 'docker-archive';

// Fixed metadata is what makes the bytes, and so the digests, the same on every run.
const EPOCH = new Date(0);
const fixed = { mtime: EPOCH, uid: 0, gid: 0, uname: '', gname: '' };

function entryTo(p: Pack, header: Parameters<Pack['entry']>[0], body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const cb = (err?: Error | null) => (err ? reject(err) : resolve());
    if (body) p.entry({ ...fixed, ...header }, body, cb);
    else p.entry({ ...fixed, ...header }, cb);
  });
}

async function streamEntry(p: Pack, name: string, mode: number, file: string): Promise<void> {
  const size = (await stat(file)).size;
  await new Promise<void>((resolve, reject) => {
    const sink = p.entry({ ...fixed, name, mode, size, type: 'file' }, (err) =>
      err ? reject(err) : resolve(),
    );
    createReadStream(file).on('error', reject).pipe(sink);
  });
}

/** Writes a tar stream to `path` while hashing it; returns the sha256 hex and size. */
async function writeTar(
  path: string,
  fill: (p: Pack) => Promise<void>,
): Promise<{ hex: string; size: number }> {
  const p = pack();
  const hash = createHash('sha256');
  let size = 0;
  const done = pipeline(
    p,
    new Transform({
      transform(chunk: Buffer, _e, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    }),
    createWriteStream(path),
  );
  await fill(p);
  p.finalize();
  await done;
  return { hex: hash.digest('hex'), size };
}

async function writeLayer(layer: LayerDefinition, path: string) {
  const sorted = [...layer.entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return await writeTar(path, async (p) => {
    for (const e of sorted) {
      const name = e.path.replace(/^\/+/, '');
      if (e.type === 'dir') await entryTo(p, { name: `${name}/`, type: 'directory', mode: e.mode });
      else if (e.type === 'symlink')
        await entryTo(p, { name, type: 'symlink', linkname: e.target, mode: 0o777 });
      else if ('source' in e) await streamEntry(p, name, e.mode, e.source);
      else {
        const body = Buffer.from(e.content);
        await entryTo(p, { name, type: 'file', mode: e.mode, size: body.length }, body);
      }
    }
  });
}

interface Blob {
  desc: Descriptor;
  /** Either a file to stream in, or bytes. */
  file?: string;
  bytes?: Buffer;
}

function bytesBlob(mediaType: string, bytes: Buffer): Blob {
  return {
    desc: {
      mediaType,
      digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
      size: bytes.length,
    },
    bytes,
  };
}

/**
 * Writes an image as an OCI image-layout tar or a docker-archive tar, deterministically (same
 * input files → same bytes). Returns the digest thaw's ImageStore will give it.
 */
export async function writeImageArchive(
  def: ImageDefinition,
  format: ArchiveFormat,
  outPath: string,
): Promise<{ path: string; digest: string }> {
  await mkdir(dirname(outPath), { recursive: true });
  const work = `${outPath}.${randomUUID()}.d`;
  await mkdir(work, { recursive: true });
  try {
    const layers: Blob[] = [];
    const diffIds: string[] = [];
    for (const [i, layer] of def.layers.entries()) {
      const tarPath = join(work, `layer${i}.tar`);
      const { hex, size } = await writeLayer(layer, tarPath);
      diffIds.push(`sha256:${hex}`);
      if (format === 'oci' && layer.gzip) {
        // Layers here are small when gzipped (app code); the big base layer stays plain.
        layers.push(bytesBlob(MediaType.ociLayerGzip, gzipSync(await readFile(tarPath), { level: 6 })));
      } else {
        layers.push({
          desc: { mediaType: MediaType.ociLayer, digest: `sha256:${hex}`, size },
          file: tarPath,
        });
      }
    }
    const config = bytesBlob(
      MediaType.ociConfig,
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          created: '1970-01-01T00:00:00Z',
          config: def.config,
          rootfs: { type: 'layers', diff_ids: diffIds },
          history: def.layers.map(() => ({ created: '1970-01-01T00:00:00Z', created_by: 'thaw build' })),
        }),
      ),
    );
    const tmpOut = join(work, 'out.tar');
    let digest: string;
    if (format === 'oci') {
      const manifest = bytesBlob(
        MediaType.ociManifest,
        Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MediaType.ociManifest,
            config: config.desc,
            layers: layers.map((l) => l.desc),
          }),
        ),
      );
      digest = manifest.desc.digest;
      const index = {
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [{ ...manifest.desc, platform: { os: 'linux', architecture: 'amd64' } }],
      };
      await writeTar(tmpOut, async (p) => {
        await entryTo(p, { name: 'blobs/', type: 'directory', mode: 0o755 });
        await entryTo(p, { name: 'blobs/sha256/', type: 'directory', mode: 0o755 });
        const blobs = [config, manifest, ...layers].sort((a, b) => (a.desc.digest < b.desc.digest ? -1 : 1));
        const seen = new Set<string>();
        for (const b of blobs) {
          if (seen.has(b.desc.digest)) continue;
          seen.add(b.desc.digest);
          const name = `blobs/sha256/${b.desc.digest.slice(7)}`;
          if (b.file) await streamEntry(p, name, 0o644, b.file);
          else await entryTo(p, { name, type: 'file', mode: 0o644, size: b.bytes?.length ?? 0 }, b.bytes);
        }
        const idx = Buffer.from(JSON.stringify(index));
        await entryTo(p, { name: 'index.json', type: 'file', mode: 0o644, size: idx.length }, idx);
        const layout = Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }));
        await entryTo(p, { name: 'oci-layout', type: 'file', mode: 0o644, size: layout.length }, layout);
      });
    } else {
      digest = `sha256:${createHash('sha256')
        .update(
          canonicalManifest(
            config.desc,
            layers.map((l) => l.desc),
          ),
        )
        .digest('hex')}`;
      const manifestJson = Buffer.from(
        JSON.stringify([
          {
            Config: `blobs/sha256/${config.desc.digest.slice(7)}`,
            RepoTags: null,
            Layers: layers.map((l) => `blobs/sha256/${l.desc.digest.slice(7)}`),
          },
        ]),
      );
      await writeTar(tmpOut, async (p) => {
        await entryTo(p, { name: 'blobs/', type: 'directory', mode: 0o755 });
        await entryTo(p, { name: 'blobs/sha256/', type: 'directory', mode: 0o755 });
        const seen = new Set<string>();
        for (const b of [config, ...layers].sort((a, c) => (a.desc.digest < c.desc.digest ? -1 : 1))) {
          if (seen.has(b.desc.digest)) continue;
          seen.add(b.desc.digest);
          const name = `blobs/sha256/${b.desc.digest.slice(7)}`;
          if (b.file) await streamEntry(p, name, 0o644, b.file);
          else await entryTo(p, { name, type: 'file', mode: 0o644, size: b.bytes?.length ?? 0 }, b.bytes);
        }
        await entryTo(
          p,
          { name: 'manifest.json', type: 'file', mode: 0o644, size: manifestJson.length },
          manifestJson,
        );
      });
    }
    await rename(tmpOut, outPath);
    return { path: outPath, digest };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
