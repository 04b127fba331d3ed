import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { type ImageStore, isImageInvalidError, type StoredImage } from '@thaw/runtime';
import { IMAGE_BUCKET, type ImageRecord, ThawError } from '@thaw/shared';
import type { JetStreamClient } from 'nats';

/**
 * Brings images from the JetStream object store (where the gateway streams uploads) into this
 * host's image store. Concurrent requests for one object share one import.
 */
export class ImageFetcher {
  private readonly pending = new Map<string, Promise<StoredImage>>();

  constructor(
    private readonly js: JetStreamClient,
    private readonly store: ImageStore,
  ) {}

  importObject(object: string): Promise<StoredImage> {
    let p = this.pending.get(object);
    if (!p) {
      p = this.load(object).finally(() => this.pending.delete(object));
      this.pending.set(object, p);
    }
    return p;
  }

  async ensure(image: ImageRecord): Promise<StoredImage> {
    const have = await this.store.get(image.digest);
    if (have) return have;
    const stored = await this.importObject(image.object);
    if (stored.digest !== image.digest) {
      throw new ThawError(
        'IMAGE_INVALID',
        `object ${image.object} holds ${stored.digest}, not ${image.digest}`,
      );
    }
    return stored;
  }

  private async load(object: string): Promise<StoredImage> {
    const os = await this.js.views.os(IMAGE_BUCKET);
    const result = await os.get(object);
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
