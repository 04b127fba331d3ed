import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  deployFunction,
  type NatsCluster,
  type Platform,
  type Service,
  startNatsCluster,
  startPlatform,
  startRedis,
  startWorkerHost,
  uploadImage,
  type WorkerHost,
} from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { IMAGE_BUCKET } from '@thaw/shared';
import { connect } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slowStartImage } from '../function-images.js';

// An image uploaded to a 3-node cluster with THAW_JS_REPLICAS=3 survives the loss of the node
// that leads its stream: a worker that never had it fetches it from the other two.
const prefix = `ni${process.pid}`;
const scratch = scratchRuntimeOptions('ni');
let cluster: NatsCluster;
let redis: Service;
let platform: Platform;
const hosts: WorkerHost[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster();
  redis = await startRedis();
  platform = await startPlatform({
    natsUrl: cluster.url,
    redisUrl: redis.url,
    gatewayPort: 0,
    prefix,
    logs: 'buffer',
    logLevel: 'warn',
    worker: false,
    gatewayEnv: { ...cluster.envFor('gateway'), THAW_JS_REPLICAS: '3' },
  });
  hosts.push(
    await startWorkerHost({ natsPort: 4222, prefix, workerId: 'w1', env: cluster.envFor('worker') }),
  );
}, 120_000);

afterAll(async () => {
  await platform?.close();
  for (const h of hosts) await h.close().catch(() => undefined);
  await redis?.close();
  await cluster?.close();
  await rm(scratch.stateDir, { recursive: true, force: true });
});

describe('images on a NATS cluster', () => {
  it('keeps an image uploaded before a node is lost: it deploys on a worker that never had it', async () => {
    const archive = await slowStartImage(join(scratch.stateDir, 'archives'));
    const { digest } = await uploadImage(platform.gatewayUrl, archive.path, platform.token);
    const nc = await connect({
      servers: cluster.url.split(','),
      user: cluster.gateway.user,
      pass: cluster.gateway.password,
    });
    let leader: string | undefined;
    try {
      const info = await (await nc.jetstreamManager()).streams.info(`OBJ_${IMAGE_BUCKET}`);
      expect(info.config.num_replicas).toBe(3);
      leader = info.cluster?.leader;
    } finally {
      await nc.close();
    }
    const victim = cluster.nodes.find((n) => n.name === leader);
    if (!victim) throw new Error(`the image stream has no leader among the nodes: ${leader}`);
    await victim.kill();
    // The stream elects a new leader among the two left (seconds); reads in that window fail, and
    // this test is about the copies surviving, not the election: wait for it.
    const survivor = await connect({
      servers: cluster.url.split(','),
      user: cluster.gateway.user,
      pass: cluster.gateway.password,
    });
    try {
      // JetStream's own meta leader may be the one killed too: its API times out until re-elected.
      const leaderNow = async () => {
        const jsm = await survivor.jetstreamManager({ timeout: 1000 });
        return (await jsm.streams.info(`OBJ_${IMAGE_BUCKET}`)).cluster?.leader;
      };
      let elected: string | undefined;
      for (let i = 0; i < 60 && (elected === undefined || elected === leader); i++) {
        elected = await leaderNow().catch(() => undefined);
        if (elected === undefined || elected === leader) await new Promise((r) => setTimeout(r, 250));
      }
      expect(elected, 'a new leader for the image stream').toBeDefined();
      expect(elected).not.toBe(leader);
    } finally {
      await survivor.close();
    }
    // The worker that imported the upload leaves; the new one must fetch the archive from NATS.
    for (const h of hosts) await h.stop();
    hosts.push(
      await startWorkerHost({ natsPort: 4222, prefix, workerId: 'w2', env: cluster.envFor('worker') }),
    );
    await deployFunction(
      platform.gatewayUrl,
      { name: 'late', image: digest, maxInstances: 1 },
      platform.token,
    );
    const res = await platform.fetch(`${platform.gatewayUrl}/fn/late/`);
    const text = await res.clone().text();
    expect(res.status, text).toBe(200);
    expect(await res.text()).toBe('started\n');
  }, 120_000);
});
