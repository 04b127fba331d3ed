import { realpathSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  deleteFunction,
  deployFunction,
  type Platform,
  startPlatform,
  uploadImage,
  workerEnvFor,
} from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { writeImageArchive } from '@thaw/runtime/testimages';
import { createLogger, IMAGE_BUCKET, ImageRecord } from '@thaw/shared';
import { Redis } from 'ioredis';
import { connect, type NatsConnection, type ObjectStore } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectImages } from '../../src/images/gc.js';
import { openStores } from '../../src/store/index.js';

/** The gateway's IMAGE_GC_GRACE_MS here: short, so that the test sees it pass. */
const GRACE_MS = 3000;
const prefix = `igc${process.pid}`;
const rt = scratchRuntimeOptions('igc');
let platform: Platform;
let nc: NatsConnection;
let redis: Redis;
let os: ObjectStore;

/** A static busybox httpd image serving `text`: one per text, each its own digest. */
async function busyboxImage(text: string): Promise<string> {
  const { path } = await writeImageArchive(
    {
      layers: [
        {
          entries: [
            { path: 'bin', type: 'dir', mode: 0o755 },
            { path: 'bin/busybox', type: 'file', mode: 0o755, source: realpathSync('/bin/busybox') },
            { path: 'bin/sh', type: 'symlink', target: 'busybox' },
            { path: 'www', type: 'dir', mode: 0o755 },
            { path: 'www/index.html', type: 'file', mode: 0o644, content: `${text}\n` },
          ],
        },
      ],
      config: {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, run inside the container
        Entrypoint: ['/bin/sh', '-c', 'exec /bin/busybox httpd -f -p 0.0.0.0:${PORT:-8080} -h /www'],
        Env: ['PATH=/bin', 'PORT=8080'],
      },
    },
    'oci',
    join(rt.stateDir, 'archives', `${text}.oci.tar`),
  );
  return path;
}

beforeAll(async () => {
  platform = await startPlatform({
    gatewayPort: 0,
    prefix,
    logs: 'buffer',
    workerEnv: workerEnvFor(rt),
    gatewayEnv: { IMAGE_GC_GRACE_MS: String(GRACE_MS), IMAGE_GC_EVERY_MS: '200' },
  });
  nc = await connect({ servers: platform.natsUrl });
  redis = new Redis(platform.redisUrl);
  os = await nc.jetstream().views.os(IMAGE_BUCKET);
}, 180_000);

afterAll(async () => {
  await nc?.close();
  redis?.disconnect();
  await platform?.close();
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
});

async function record(digest: string): Promise<ImageRecord | undefined> {
  const raw = await redis.hget(`${prefix}:images`, digest);
  return raw ? ImageRecord.parse(JSON.parse(raw)) : undefined;
}

/** Whether the object store still holds the archive (a deleted one leaves only a tombstone). */
async function stored(object: string): Promise<boolean> {
  const info = await os.info(object);
  return info !== null && !info.deleted;
}

/** Polls until the image's record and archive are both gone; returns when that was seen. */
async function goneAt(digest: string, object: string, ms = 40_000): Promise<number> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!(await record(digest)) && !(await stored(object))) return Date.now();
    await sleep(100);
  }
  throw new Error(`image ${digest} (${object}) was still there after ${ms} ms\n${platform.output()}`);
}

const invoke = async (name: string) => {
  const res = await fetch(`${platform.gatewayUrl}/fn/${name}/`);
  return { status: res.status, body: await res.text() };
};

describe('image GC', () => {
  it('deletes an uploaded image nothing uses once its grace is over, keeps the one a function runs, and deletes that one a grace after the function', async () => {
    const used = await uploadImage(platform.gatewayUrl, await busyboxImage('used'), platform.token);
    await deployFunction(platform.gatewayUrl, { name: 'gc-fn', image: used.digest }, platform.token);
    expect(await invoke('gc-fn')).toEqual({ status: 200, body: 'used\n' });
    const usedObject = (await record(used.digest))?.object ?? '';
    expect(await stored(usedObject)).toBe(true);

    // An archive no record names, as a failed upload leaves behind.
    const stray = `upload-stray-${process.pid}`;
    await os.putBlob({ name: stray }, new Uint8Array([1, 2, 3]));
    const strayAt = Date.now();

    const uploadStart = Date.now();
    const unused = await uploadImage(platform.gatewayUrl, await busyboxImage('unused'), platform.token);
    const unusedObject = (await record(unused.digest))?.object ?? '';
    expect(unusedObject).toMatch(/^upload-/);
    expect(await stored(unusedObject)).toBe(true);

    // Kept through its grace (the GC runs every 200 ms meanwhile), deleted after it.
    const unusedGone = await goneAt(unused.digest, unusedObject);
    expect(unusedGone - uploadStart).toBeGreaterThanOrEqual(GRACE_MS);
    const strayGone = await goneAt('sha256:none', stray);
    expect(strayGone - strayAt).toBeGreaterThanOrEqual(GRACE_MS);

    // The function's image outlived its own grace: it is in use.
    expect(Date.now() - uploadStart).toBeGreaterThan(GRACE_MS);
    expect(await record(used.digest)).toMatchObject({ digest: used.digest, object: usedObject });
    expect(await stored(usedObject)).toBe(true);
    expect(await invoke('gc-fn')).toEqual({ status: 200, body: 'used\n' });

    // Its grace starts again when the function that used it is deleted.
    const deletedAt = Date.now();
    await deleteFunction(platform.gatewayUrl, 'gc-fn', platform.token);
    const usedGone = await goneAt(used.digest, usedObject);
    expect(usedGone - deletedAt).toBeGreaterThanOrEqual(GRACE_MS);
  }, 120_000);

  it('runs one round at a time across gateways (a lock in Redis)', async () => {
    const log = createLogger('image-gc-test', 'silent');
    const { images } = openStores({ redis, prefix, log });
    const lock = `${prefix}:images:gc`;
    // Another gateway's round holds the lock: this one does nothing, and leaves that lock alone.
    await redis.set(lock, 'another-gateway', 'PX', 30_000);
    expect(await collectImages({ nc, images, graceMs: 0, log })).toEqual({
      ran: false,
      images: [],
      orphans: [],
    });
    expect(await redis.get(lock)).toBe('another-gateway');
    await redis.del(lock);
    // Free again (the platform's gateway takes it for a moment every 200 ms): a round runs.
    const deadline = Date.now() + 10_000;
    let ran = false;
    while (!ran && Date.now() < deadline) ran = (await collectImages({ nc, images, graceMs: 0, log })).ran;
    expect(ran).toBe(true);
  });
});
