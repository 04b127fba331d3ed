import { randomUUID } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { type Logger, ThawError } from '@thaw/shared';
import type { FastifyInstance } from 'fastify';
import type { NatsConnection } from 'nats';
import type { WorkerClient } from '../cluster/worker-client.js';
import { openImageBucket } from '../images/bucket.js';
import type { ImageStore } from '../store/images.js';

export interface ImageDeps {
  nc: NatsConnection;
  images: ImageStore;
  client: WorkerClient;
  maxImageBytes: number;
  /** Copies JetStream keeps of each archive (THAW_JS_REPLICAS; 1 when absent). */
  replicas?: number;
  log: Logger;
}

/**
 * `POST /v1/images`: the archive streams into the JetStream object store (never whole in
 * memory), where every worker can fetch it; one worker imports and verifies it and tells the
 * digest.
 */
export async function imageRoutes(app: FastifyInstance, d: ImageDeps): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(['application/x-tar', 'application/octet-stream'], (_req, payload, done) => {
    done(null, payload);
  });

  app.post('/v1/images', async (req, reply) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > d.maxImageBytes) {
      throw new ThawError(
        'PAYLOAD_TOO_LARGE',
        `the image is ${declared} bytes; the limit is ${d.maxImageBytes}`,
      );
    }
    const os = await openImageBucket({ nc: d.nc, replicas: d.replicas ?? 1, log: d.log });
    const object = `upload-${randomUUID()}`;
    let size = 0;
    const limit = d.maxImageBytes;
    const counted = (req.body as Readable).pipe(
      new Transform({
        transform(chunk: Buffer, _enc, cb) {
          size += chunk.length;
          if (size > limit) cb(new ThawError('PAYLOAD_TOO_LARGE', `the image is larger than ${limit} bytes`));
          else cb(null, chunk);
        },
      }),
    );
    (req.body as Readable).once('error', (err) => counted.destroy(err));
    try {
      await os.put({ name: object }, Readable.toWeb(counted) as unknown as ReadableStream<Uint8Array>);
    } catch (err) {
      await os.delete(object).catch(() => undefined);
      if (err instanceof ThawError) throw err;
      throw new ThawError('IMAGE_INVALID', `the upload did not complete: ${(err as Error).message}`, {
        cause: err,
      });
    }
    try {
      const { digest } = await d.client.importImage(object);
      const { kept, created } = await d.images.put({
        digest,
        object,
        size,
        uploadedAt: new Date().toISOString(),
      });
      // The same image uploaded twice keeps one archive.
      if (!created) await os.delete(object).catch(() => undefined);
      return reply.code(201).send({ digest, size: kept.size });
    } catch (err) {
      await os.delete(object).catch(() => undefined);
      throw err;
    }
  });
}
