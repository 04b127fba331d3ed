import { randomUUID } from 'node:crypto';
import type { Logger } from '@thaw/shared';
import type { NatsConnection } from 'nats';
import type { ImageStore } from '../store/images.js';
import { openImageBucket } from './bucket.js';

export interface ImageGcOptions {
  nc: NatsConnection;
  images: ImageStore;
  /** An image unused for this long is deleted. */
  graceMs: number;
  /** Copies JetStream keeps of each archive (THAW_JS_REPLICAS; 1 when absent). */
  replicas?: number;
  log: Logger;
}

export interface ImageGcResult {
  /** False when another gateway's round held the lock: this one did nothing. */
  ran: boolean;
  /** Digests whose record and archive were deleted. */
  images: string[];
  /** Archives in the object store that no record named (uploads that failed half-way, deletes cut short). */
  orphans: string[];
}

/** Longest a round may hold the lock: one that dies mid-round blocks the others no longer. */
const LOCK_MS = 60_000;

/**
 * One round of image GC: deletes every uploaded image that no function's record names and that
 * has not been used for `graceMs` (record first, in one Redis script that checks both, then the
 * archive), and archives no record names that are older than the grace. One gateway at a
 * time (a Redis lock); every step is also safe to repeat, so a round cut short does no harm.
 */
export async function collectImages(o: ImageGcOptions): Promise<ImageGcResult> {
  const owner = randomUUID();
  if (!(await o.images.claimGc(owner, LOCK_MS))) return { ran: false, images: [], orphans: [] };
  try {
    const os = await openImageBucket({ nc: o.nc, replicas: o.replicas ?? 1, log: o.log });
    const images: string[] = [];
    const named = new Set<string>();
    for (const img of await o.images.list()) {
      const uploadedAt = Date.parse(img.uploadedAt);
      const gone = await o.images.deleteIfUnused(
        img.digest,
        Number.isNaN(uploadedAt) ? Date.now() : uploadedAt,
        o.graceMs,
      );
      if (!gone) {
        named.add(img.object);
        continue;
      }
      images.push(img.digest);
      // Lost if this fails; the orphan sweep of a later round removes it.
      await os
        .delete(gone.object)
        .catch((err: Error) =>
          o.log.warn({ object: gone.object, err: err.message }, 'deleting an image archive failed'),
        );
    }
    const orphans: string[] = [];
    const cutoff = Date.now() - o.graceMs;
    for (const info of await os.list()) {
      // An upload's archive is in the store a moment before its record (the worker imports it
      // first): only archives older than the grace can be orphans.
      if (named.has(info.name) || Date.parse(info.mtime) > cutoff) continue;
      await os.delete(info.name).then(
        () => orphans.push(info.name),
        (err: Error) =>
          o.log.warn({ object: info.name, err: err.message }, 'deleting an orphan archive failed'),
      );
    }
    if (images.length || orphans.length) o.log.info({ images, orphans }, 'image GC deleted unused images');
    return { ran: true, images, orphans };
  } finally {
    await o.images
      .releaseGc(owner)
      .catch((err: Error) => o.log.warn({ err: err.message }, 'releasing the image GC lock failed'));
  }
}

/** Runs image GC every `everyMs` (0: never) until stopped. */
export function startImageGc(o: ImageGcOptions & { everyMs: number }): { stop(): void } {
  if (o.everyMs <= 0) return { stop: () => undefined };
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    collectImages(o)
      .catch((err: Error) => o.log.warn({ err: err.message }, 'image GC failed'))
      .finally(() => {
        running = false;
      });
  }, o.everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
