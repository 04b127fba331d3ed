/**
 * `cluster` scenario (issue #14): on a 3-node NATS cluster with Redis behind Sentinel, warm c1
 * p50 and c32 throughput through one gateway with 1, 2 and 3 worker hosts (a namespace each),
 * direct to one container as a same-run baseline; then, under steady load, what losing a worker
 * host, a NATS node and the Redis primary costs. Writes <results>/cluster.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { deployFunction, type NatsNode } from '@thaw/devkit';
import { clusterChart } from '../charts/cluster.js';
import { writeChart } from '../charts/render.js';
import type { LossFigures } from '../cluster-figures.js';
import { measureLoss } from '../cluster-loss.js';
import { type ClusterRig, loseHost, openClusterRig, reviveHost } from '../cluster-rig.js';
import { directUrl, runWrkIn } from '../cluster-wrk.js';
import { envInt, resultsDir } from '../settings.js';
import { runWrk } from '../wrk.js';

export interface ClusterSettings {
  /** Length of each wrk run. */
  seconds: number;
  /** Steady load before each loss. */
  steadyS: number;
  /** Longest the load goes on after a loss, waiting for detection and recovery. */
  windowS: number;
  /** Sync clients of the loss runs. */
  clients: number;
  resultsDir: string;
}

export function clusterSettings(env: NodeJS.ProcessEnv): ClusterSettings {
  return {
    seconds: envInt(env, 'BENCH_SECONDS', 10),
    steadyS: envInt(env, 'BENCH_CLUSTER_STEADY_S', 3),
    windowS: envInt(env, 'BENCH_CLUSTER_WINDOW_S', 30),
    clients: envInt(env, 'BENCH_CLUSTER_CLIENTS', 8),
    resultsDir: resultsDir(env),
  };
}

export interface ThroughputRow {
  workers: number;
  c1_p50_ms: number;
  c32_rps: number;
  /** wrk's failed requests over both runs (non-2xx answers, socket errors). */
  errors: number;
}

export interface ClusterResult {
  throughput: ThroughputRow[];
  /** The same node-hello container called from its own host's namespace, no gateway or NATS. */
  direct: { c1_p50_ms: number; c32_rps: number };
  loss: {
    worker: LossFigures;
    nats_node: LossFigures;
    /** `lost`: accepted async calls that did not end succeeded (there must be none). */
    redis_primary: LossFigures & { lost: number };
  };
}

const FN = 'cl';
/**
 * 8 slots per instance, 2 instances per worker: 16 per worker, so c32 saturates a worker and
 * the gateway places the function on the next one (one more per second at most).
 */
const SPEC = {
  name: FN,
  concurrency: 8,
  maxInstances: 2,
  minInstances: 1,
  timeoutMs: 10_000,
  asyncAttempts: 6,
};
/** Load applied, 1 s at a time, until the function runs on every worker host. */
const SPREAD_WITHIN_MS = 60_000;
/** Accepted async calls must have ended by then; later, they count as lost. */
const SETTLE_WITHIN_MS = 60_000;

/** The worker hosts holding the function (GET /v1/functions/:name's workers). */
async function holders(rig: ClusterRig): Promise<string[]> {
  const res = await rig.platform.fetch(`${rig.platform.gatewayUrl}/v1/functions/${FN}`);
  const body = (await res.json()) as { workers?: { worker: string; instances: unknown[] }[] };
  return (body.workers ?? []).filter((w) => w.instances.length > 0).map((w) => w.worker);
}

async function spreadTo(rig: ClusterRig, n: number, url: string): Promise<void> {
  const deadline = Date.now() + SPREAD_WITHIN_MS;
  while ((await holders(rig)).length < n) {
    if (Date.now() > deadline)
      throw new Error(`the function is on ${(await holders(rig)).join(', ')}, not on ${n} worker hosts`);
    await runWrk({ url, connections: 32, seconds: 1 });
  }
}

async function throughput(rig: ClusterRig, s: ClusterSettings, url: string): Promise<ThroughputRow> {
  const c1 = await runWrk({ url, connections: 1, seconds: s.seconds });
  const c32 = await runWrk({ url, connections: 32, seconds: s.seconds });
  const row = {
    workers: rig.hosts.length,
    c1_p50_ms: c1.p50_ms,
    c32_rps: c32.rps,
    errors: c1.errors + c32.errors,
  };
  console.log(
    `${row.workers} worker host(s): c1 p50 ${row.c1_p50_ms.toFixed(3)} ms, c32 ${row.c32_rps.toFixed(0)} req/s, ${row.errors} errors`,
  );
  return row;
}

/** thaw's client connections on a node, by name (NATS monitoring /connz). */
async function connectionsOn(n: NatsNode): Promise<string[]> {
  const res = await fetch(`http://${n.ip}:8222/connz?limit=1000`, { signal: AbortSignal.timeout(1000) });
  const body = (await res.json()) as { connections?: { name?: string }[] };
  return (body.connections ?? []).map((c) => c.name ?? '');
}

/** Accepted async calls that did not end succeeded within SETTLE_WITHIN_MS. */
async function lostCalls(rig: ClusterRig, ids: string[]): Promise<number> {
  const deadline = Date.now() + SETTLE_WITHIN_MS;
  let open = ids;
  let lost = 0;
  while (open.length && Date.now() < deadline) {
    const states = await Promise.all(
      open.map(async (id) => {
        const res = await rig.platform.fetch(`${rig.platform.gatewayUrl}/v1/calls/${id}`);
        return res.status === 200 ? ((await res.json()) as { status: string }).status : `HTTP ${res.status}`;
      }),
    );
    lost += states.filter((st) => st === 'dead').length;
    open = open.filter((_, i) => states[i] !== 'succeeded' && states[i] !== 'dead');
    if (open.length) await sleep(500);
  }
  return lost + open.length;
}

async function losses(rig: ClusterRig, s: ClusterSettings): Promise<ClusterResult['loss']> {
  const g = rig.platform.gatewayUrl;
  const base = {
    fetch: rig.platform.fetch,
    syncUrl: `${g}/fn/${FN}/bench`,
    syncClients: s.clients,
    steadyMs: s.steadyS * 1000,
    windowMs: s.windowS * 1000,
  };
  const workers = async () =>
    ((await rig.platform.api.GET('/v1/workers')).data?.workers ?? []).map((w) => w.workerId);

  const victim = rig.hosts.at(-1);
  if (!victim) throw new Error('no worker host');
  const worker = await measureLoss({
    ...base,
    lose: () => loseHost(victim),
    detected: async () => !(await workers()).includes(victim.workerId),
  });
  console.log(`worker host lost: ${JSON.stringify(worker.figures)}`);
  await reviveHost(victim);

  // The node holding the gateway's connection: its loss reaches every call.
  const on = await Promise.all(rig.cluster.nodes.map(async (n) => ({ n, names: await connectionsOn(n) })));
  const node = (on.find((x) => x.names.includes('thaw-gateway')) ?? on[0])?.n;
  if (!node) throw new Error('no NATS node');
  const clients = ['thaw-gateway', ...rig.hosts.map((h) => h.workerId)];
  const others = rig.cluster.nodes.filter((n) => n !== node);
  const nats = await measureLoss({
    ...base,
    lose: () => node.kill(),
    // Detected once every client of thaw is connected to a surviving node.
    detected: async () => {
      const seen = new Set((await Promise.all(others.map(connectionsOn))).flat());
      return clients.every((c) => seen.has(c));
    },
  });
  console.log(`NATS node ${node.name} lost: ${JSON.stringify(nats.figures)}`);
  await node.start();

  const primary = await rig.redis.primaryPort();
  const redis = await measureLoss({
    ...base,
    asyncUrl: `${g}/async/${FN}/bench`,
    recoveryOnAsync: true,
    lose: async () => {
      rig.redis.server(primary).process.kill('SIGKILL');
    },
    detected: async () => (await rig.redis.primaryPort()) !== primary,
  });
  const lost = await lostCalls(rig, redis.accepted);
  console.log(
    `Redis primary lost: ${JSON.stringify(redis.figures)}, ${lost} of ${redis.accepted.length} async calls lost`,
  );
  return { worker: worker.figures, nats_node: nats.figures, redis_primary: { ...redis.figures, lost } };
}

/** Runs the scenario on a rig of its own, closed at the end; `names` is what it must not leave. */
export async function runCluster(s: ClusterSettings): Promise<{ result: ClusterResult; names: string[] }> {
  const rig = await openClusterRig('bcl');
  try {
    // Images are imported by workers: one must be up for the upload.
    const first = await rig.addHost();
    const digest = await rig.image();
    await deployFunction(rig.platform.gatewayUrl, { ...SPEC, image: digest }, rig.platform.token);
    const url = `${rig.platform.gatewayUrl}/fn/${FN}/bench`;
    const warm = await fetch(url);
    if (warm.status !== 200) throw new Error(`warm-up call failed: ${warm.status} ${await warm.text()}`);

    const rows: ThroughputRow[] = [];
    const target = await directUrl(first);
    const d1 = await runWrkIn(first.netns, { url: target, connections: 1, seconds: s.seconds });
    const d32 = await runWrkIn(first.netns, { url: target, connections: 32, seconds: s.seconds });
    const direct = { c1_p50_ms: d1.p50_ms, c32_rps: d32.rps };
    console.log(
      `direct to one container: c1 p50 ${direct.c1_p50_ms.toFixed(3)} ms, c32 ${direct.c32_rps.toFixed(0)} req/s`,
    );
    for (let n = 1; n <= 3; n++) {
      if (n > 1) await rig.addHost();
      await spreadTo(rig, n, url);
      rows.push(await throughput(rig, s, url));
    }
    const result: ClusterResult = { throughput: rows, direct, loss: await losses(rig, s) };
    await mkdir(s.resultsDir, { recursive: true });
    await writeFile(join(s.resultsDir, 'cluster.json'), `${JSON.stringify(result, null, 2)}\n`);
    await writeChart(s.resultsDir, 'cluster', clusterChart(result));
    console.log(`wrote ${join(s.resultsDir, 'cluster.json')}, cluster.svg and cluster.png`);
    return { result, names: rig.names() };
  } finally {
    await rig.close();
  }
}
