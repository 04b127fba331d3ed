import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import {
  type ImageStore,
  isImageInvalidError,
  isRegistryError,
  type PullOptions,
  type StoredImage,
} from '@thaw/runtime';
import { checkTarget, IMAGE_BUCKET, type ImageSource, type Resolver, ThawError } from '@thaw/shared';
import type { JetStreamClient } from 'nats';
import { type StoreRetryOptions, withStoreRetry } from './store-retry.js';

export interface ImageFetcherOptions {
  js: JetStreamClient;
  store: ImageStore;
  pullOptions?: PullOptions;
  /**
   * Registries at private, loopback, link-local (cloud metadata) or this host's own addresses
   * may be pulled from. Off by default: a function's image reference is a URL a user chose,
   * and the worker would fetch it from inside the host's network.
   */
  allowPrivateRegistries?: boolean;
  /** Name resolution for the registry address check (tests answer with fixed addresses). */
  resolve?: Resolver;
  /** How the object store's reads are retried while JetStream cannot answer (tests shorten it). */
  storeRetry?: StoreRetryOptions;
}

/**
 * Brings images into this host's image store: uploads from the JetStream object store (where
 * the gateway streams them), and registry references by pulling. Concurrent requests for one
 * object or reference share one import.
 */
export class ImageFetcher {
  private readonly pending = new Map<string, Promise<StoredImage>>();

  private readonly js: JetStreamClient;
  private readonly store: ImageStore;
  private readonly pullOptions: PullOptions;
  private readonly allowPrivateRegistries: boolean;
  private readonly resolve: Resolver | undefined;
  private readonly storeRetry: StoreRetryOptions;

  constructor(opts: ImageFetcherOptions) {
    this.js = opts.js;
    this.store = opts.store;
    this.pullOptions = opts.pullOptions ?? {};
    this.allowPrivateRegistries = opts.allowPrivateRegistries ?? false;
    this.resolve = opts.resolve;
    this.storeRetry = opts.storeRetry ?? {};
  }

  private once(key: string, load: () => Promise<StoredImage>): Promise<StoredImage> {
    let p = this.pending.get(key);
    if (!p) {
      p = load().finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return p;
  }

  importObject(object: string): Promise<StoredImage> {
    return this.once(object, () => this.load(object));
  }

  /** The image, from this host's store when it has it (`knownDigest`), else fetched or pulled. */
  async ensure(source: ImageSource, knownDigest?: string): Promise<StoredImage> {
    const digest = source.kind === 'upload' ? source.record.digest : knownDigest;
    const have = digest ? await this.store.get(digest) : undefined;
    if (have) return have;
    if (source.kind === 'registry')
      return await this.once(source.reference, () => this.pull(source.reference));
    const stored = await this.importObject(source.record.object);
    if (stored.digest !== source.record.digest) {
      throw new ThawError(
        'IMAGE_INVALID',
        `object ${source.record.object} holds ${stored.digest}, not ${source.record.digest}`,
      );
    }
    return stored;
  }

  private async pull(reference: string): Promise<StoredImage> {
    // Checked before any connection. Not pinned: fetch resolves the name again, so a name that
    // changes its answer between the two lookups is not caught (callbacks are pinned; pulls not yet).
    const registry = reference.split('/')[0] ?? '';
    const target = await checkTarget(`https://${registry}/`, {
      allowPrivate: this.allowPrivateRegistries,
      allowedBy: 'THAW_REGISTRY_PRIVATE=allow on the worker',
      ...(this.resolve ? { resolve: this.resolve } : {}),
    });
    if (!target.ok) {
      throw new ThawError('IMAGE_PULL_FAILED', `pulling ${reference}: refused: ${target.reason}`);
    }
    try {
      return await this.store.pull(reference, this.pullOptions);
    } catch (err) {
      if (isRegistryError(err)) {
        throw new ThawError('IMAGE_PULL_FAILED', `pulling ${reference}: ${err.kind}: ${err.message}`, {
          cause: err,
        });
      }
      if (isImageInvalidError(err)) {
        throw new ThawError('IMAGE_PULL_FAILED', `pulling ${reference}: ${err.message}`, { cause: err });
      }
      throw err;
    }
  }

  private async load(object: string): Promise<StoredImage> {
    // Only the lookup is retried: once the archive streams, a failure is the import's.
    const result = await withStoreRetry(
      `reading image archive ${object}`,
      async () => (await this.js.views.os(IMAGE_BUCKET)).get(object),
      this.storeRetry,
    );
    if (!result) throw new ThawError('IMAGE_NOT_FOUND', `image archive ${object} is not in the object store`);
    try {
      const stream = Readable.fromWeb(result.data as unknown as WebReadableStream<Uint8Array>);
      const stored = await this.store.importArchive(stream);
      const failed = await result.error;
      if (failed) throw failed;
      return stored;
    } catch (err) {
      if (isImageInvalidError(err)) throw new ThawError('IMAGE_INVALID', err.message, { cause: err });
      throw err;
    }
  }
}
