import { IMAGE_BUCKET, type Logger } from '@thaw/shared';
import { type NatsConnection, type ObjectStore, StorageType } from 'nats';

/** The JetStream stream behind the object store (nats.js names it so). */
const IMAGE_STREAM = `OBJ_${IMAGE_BUCKET}`;

export interface ImageBucketOptions {
  nc: NatsConnection;
  /** Copies JetStream keeps of each archive (THAW_JS_REPLICAS): 3 on a 3-node cluster. */
  replicas: number;
  log: Logger;
}

/**
 * The uploaded images' object store, made with `replicas` copies. nats.js opens a bucket that
 * exists as it is, so one made with fewer copies (a gateway started before THAW_JS_REPLICAS was
 * raised, or by a worker) is raised here: JetStream copies the archives to the new replicas in
 * the background. Never lowered: a gateway left with an old setting must not drop copies.
 */
export async function openImageBucket(o: ImageBucketOptions): Promise<ObjectStore> {
  const os = await o.nc
    .jetstream()
    .views.os(IMAGE_BUCKET, { storage: StorageType.File, replicas: o.replicas });
  const jsm = await o.nc.jetstreamManager();
  const info = await jsm.streams.info(IMAGE_STREAM);
  if (info.config.num_replicas < o.replicas) {
    await jsm.streams.update(IMAGE_STREAM, { ...info.config, num_replicas: o.replicas });
    o.log.info(
      { from: info.config.num_replicas, to: o.replicas },
      'image object store: raised its replicas to THAW_JS_REPLICAS',
    );
  }
  return os;
}
