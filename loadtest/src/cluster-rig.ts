/**
 * The `cluster` scenario's parts: a 3-node NATS cluster (infra/nats, a namespace per node), Redis
 * behind Sentinel (infra/redis: a primary, a replica, 3 sentinels), one gateway on this machine
 * and worker hosts (a namespace each) added one at a time. Everything shares this machine.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type NatsCluster,
  type Platform,
  type RedisSentinelSet,
  startNatsCluster,
  startPlatform,
  startRedisSentinel,
  startWorkerHost,
  uploadImage,
  type WorkerHost,
} from '@thaw/devkit';
import { buildTestImage } from '@thaw/runtime/testimages';

/** The passwords the rig's Redis set takes (it lives and dies with the run, on 127.0.0.1). */
const REDIS_PASSWORD = 'bench-cluster-redis';
const SENTINEL_PASSWORD = 'bench-cluster-sentinel';
/** Kept thawed: the throughput runs measure warm calls, not thaws. */
const WORKER_ENV = { FREEZE_AFTER_MS: '600000' };

export interface ClusterRig {
  readonly cluster: NatsCluster;
  readonly redis: RedisSentinelSet;
  readonly platform: Platform;
  readonly hosts: readonly WorkerHost[];
  /** Starts one more worker host, on the cluster with the worker's credentials. */
  addHost(): Promise<WorkerHost>;
  /** node-hello's digest (built and uploaded once). */
  image(): Promise<string>;
  /** The names whose residue (netns, links, cgroups, folders) the run may leave: none, once closed. */
  names(): string[];
  /** Gateway, then worker hosts (they drain over NATS), then NATS nodes and Redis; each step logged. */
  close(): Promise<void>;
}

export async function openClusterRig(tag: string): Promise<ClusterRig> {
  const archives = await mkdtemp(join(tmpdir(), `thaw-${tag}-`));
  const hosts: WorkerHost[] = [];
  let cluster: NatsCluster | undefined;
  let redis: RedisSentinelSet | undefined;
  let platform: Platform | undefined;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      for (const step of [
        () => platform?.close(),
        ...hosts.map((h) => () => h.close()),
        () => cluster?.close(),
        () => redis?.close(),
        () => rm(archives, { recursive: true, force: true }),
      ]) {
        await Promise.resolve()
          .then(step)
          .catch((err: Error) => console.error(`cluster bench cleanup: ${err.message}`));
      }
    })();
    return closing;
  };
  try {
    cluster = await startNatsCluster();
    redis = await startRedisSentinel({ password: REDIS_PASSWORD, sentinelPassword: SENTINEL_PASSWORD });
    platform = await startPlatform({
      natsUrl: cluster.url,
      // Never used: REDIS_SENTINELS wins. Given so that no single redis-server is started.
      redisUrl: 'redis://127.0.0.1:1',
      gatewayPort: 0,
      prefix: `${tag}${process.pid}`,
      logs: 'buffer',
      logLevel: 'warn',
      worker: false,
      gatewayEnv: {
        ...cluster.envFor('gateway'),
        THAW_JS_REPLICAS: '3',
        REDIS_SENTINELS: redis.sentinels,
        REDIS_MASTER_NAME: redis.masterName,
        REDIS_PASSWORD,
        REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
      },
    });
  } catch (err) {
    await close();
    throw err;
  }
  const c = cluster;
  const p = platform;
  let digest: Promise<string> | undefined;
  return {
    cluster: c,
    redis,
    platform: p,
    hosts,
    async addHost() {
      const h = await startWorkerHost({
        natsPort: 4222,
        prefix: `${tag}${process.pid}`,
        workerId: `${tag}-w${hosts.length + 1}`,
        env: { ...c.envFor('worker'), ...WORKER_ENV },
      });
      hosts.push(h);
      return h;
    },
    image() {
      digest ??= (async () => {
        const built = await buildTestImage('node-hello', 'oci', archives);
        return (await uploadImage(p.gatewayUrl, built.path, p.token)).digest;
      })();
      return digest;
    },
    names: () => [
      archives,
      ...c.nodes.map((n) => n.netns),
      ...hosts.flatMap((h) => [
        h.netns,
        h.runtime.cgroupParent,
        h.runtime.stateDir,
        h.runtime.runDir,
        h.runtime.bridge,
      ]),
    ],
    close,
  };
}

/**
 * The host end of a worker host's veth (devkit's hosts.ts names the namespace thaw-host-<id> and
 * the link te<id>): taking it down is the host vanishing from the network, with no FIN or RST
 * sent, before its worker is killed.
 */
function hostLink(h: WorkerHost): string {
  const id = h.netns.replace(/^thaw-host-/, '');
  const link = `te${id}`;
  execFileSync('ip', ['link', 'show', link], { stdio: 'ignore' });
  return link;
}

/** The host lost: network cut, then its worker SIGKILLed (its containers stay, as on a dead host). */
export async function loseHost(h: WorkerHost): Promise<void> {
  execFileSync('ip', ['link', 'set', hostLink(h), 'down']);
  await h.kill();
}

/**
 * The host back: link up (the kernel puts the /30's route back; the namespace kept its own) and
 * its worker started again, which removes the containers the killed one left.
 */
export async function reviveHost(h: WorkerHost): Promise<void> {
  execFileSync('ip', ['link', 'set', hostLink(h), 'up']);
  await h.start();
}
