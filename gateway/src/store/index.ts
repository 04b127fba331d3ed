import type { Logger } from '@thaw/shared';
import type { Redis } from 'ioredis';
import { FunctionStore } from './functions.js';
import { ImageStore } from './images.js';
import { RedisAccess, storeKeys } from './redis.js';

export interface Stores {
  functions: FunctionStore;
  images: ImageStore;
}

/** The gateway's Redis records, on one connection and one view of its reachability. */
export function openStores(o: { redis: Redis; prefix: string; log: Logger }): Stores {
  const access = new RedisAccess(o.redis);
  const keys = storeKeys(o.prefix);
  return {
    functions: new FunctionStore({ access, keys, log: o.log }),
    images: new ImageStore({ access, keys }),
  };
}
