import { ImageInvalidError } from '../errors.js';
import { digestHex } from '../manifest.js';

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
