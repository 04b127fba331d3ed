import { createHash } from 'node:crypto';
import { ImageInvalidError } from './errors.js';

/** Largest manifest or index read (they are small; a huge one is not read whole). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string };
}

export interface Manifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageConfigFile {
  architecture?: string;
  os?: string;
  config?: {
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Env?: string[] | null;
    WorkingDir?: string;
    User?: string;
    ExposedPorts?: Record<string, object>;
  };
  rootfs?: { type?: string; diff_ids?: string[] };
}

export const DIGEST = /^sha256:([a-f0-9]{64})$/;

export function digestHex(digest: string, what: string): string {
  const m = DIGEST.exec(digest);
  if (!m?.[1])
    throw new ImageInvalidError(`${what} has an unsupported digest "${digest}" (only sha256 is accepted)`);
  return m[1];
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new ImageInvalidError(`${what} is not valid JSON`, { cause: err });
  }
}

/**
 * A docker-archive has no manifest blob, so thaw derives one: an OCI manifest of the config and
 * the layers as stored, serialised without whitespace. Its sha256 is the image's digest.
 */
export function canonicalManifest(config: Descriptor, layers: Descriptor[]): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  });
}
