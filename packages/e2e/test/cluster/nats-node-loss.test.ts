import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  deployFunction,
  findTestResidue,
  type NatsCluster,
  type NatsNode,
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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asyncFunctionImage } from '../function-images.js';
import { asyncClients, type ClientRun, syncClients } from './nats-load.js';

// Three NATS nodes (infra/nats/nats.conf, each in a namespace of its own), two gateways on this
// machine and two workers on "hosts" of their own, all with the users and passwords of the
// config; one node is killed (SIGKILL) under sync and async load.
const prefix = `nl${process.pid}`;
const scratch = scratchRuntimeOptions('nl');
/**
 * Every client must be served this soon after the loss, its call in flight included (issue #14).
 * Alone the longest wait is 0.3-0.4 s; a clean-clone CI run, with the 3-minute schedules test
 * running beside it on the 2 cores, once saw 3.6 s (an answer re-sent once both the gateway's and
 * the worker's connections had moved). 4 s still tells a reconnect from waiting out the pings.
 */
const RECOVERY_MS = 4000;
/**
 * Codes a call in flight at the kill may fail with (docs/nats-cluster.md). Not FUNCTION_TIMEOUT:
 * an answer the lost node swallowed is sent again (the workers keep their recent answers).
 */
const IN_FLIGHT_CODES = ['WORKER_LOST', 'NO_WORKER'];
let cluster: NatsCluster;
let redis: Service;
let platform: Platform;
let gateways: string[];
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
  gateways = [platform.gatewayUrl, await platform.addGateway()];
  for (const id of ['w1', 'w2']) {
    hosts.push(
      await startWorkerHost({ natsPort: 4222, prefix, workerId: id, env: cluster.envFor('worker') }),
    );
  }
  const archives = join(scratch.stateDir, 'archives');
  const fn = await asyncFunctionImage(archives);
  const { digest } = await uploadImage(platform.gatewayUrl, fn.path, platform.token);
  await deployFunction(
    platform.gatewayUrl,
    { name: 'echo', image: digest, maxInstances: 2, concurrency: 4, timeoutMs: 3000, asyncAttempts: 6 },
    platform.token,
  );
  for (const g of gateways) expect((await platform.fetch(`${g}/fn/echo/sleep?ms=0`)).status).toBe(200);
}, 240_000);

afterAll(async () => {
  await platform?.close();
  for (const h of hosts) await h.close().catch(() => undefined);
  await redis?.close();
  await cluster?.close();
  await rm(scratch.stateDir, { recursive: true, force: true });
});

/** thaw's connections on each node (monitoring /connz): gateways and workers by name. */
async function clientsOn(n: NatsNode): Promise<string[]> {
  const res = await fetch(`http://${n.ip}:8222/connz?limit=1000`);
  const body = (await res.json()) as { connections?: { name?: string }[] };
  return (body.connections ?? [])
    .map((c) => c.name ?? '')
    .filter((name) => /^(thaw-gateway|w\d)$/.test(name));
}

async function settled(callId: string, deadline: number): Promise<string> {
  for (;;) {
    const res = await platform.fetch(`${platform.gatewayUrl}/v1/calls/${callId}`);
    const call = (await res.json()) as { status?: string };
    if (call.status === 'succeeded' || call.status === 'dead' || Date.now() > deadline) {
      return call.status ?? `HTTP ${res.status}`;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('a NATS node killed under load', () => {
  it('fails only calls in flight on its connections, serves every client again within 4 s, loses no async call', async () => {
    // The node with the most of thaw's connections (a gateway's among them when one has it).
    const on = await Promise.all(cluster.nodes.map(async (n) => ({ n, names: await clientsOn(n) })));
    on.sort(
      (a, b) =>
        Number(b.names.includes('thaw-gateway')) - Number(a.names.includes('thaw-gateway')) ||
        b.names.length - a.names.length,
    );
    const victim = on[0];
    if (!victim?.names.length) throw new Error(`no thaw connection on any node: ${JSON.stringify(on)}`);

    let stop = false;
    const until = () => stop;
    const runs = [
      ...syncClients(platform.fetch, gateways, 'echo', '/sleep?ms=20', 3)(until),
      ...asyncClients(platform.fetch, gateways, 'echo', '/sleep?ms=20', 50)(until),
    ];
    await new Promise((r) => setTimeout(r, 2000));
    const killedAt = Date.now();
    await victim.n.kill();
    await new Promise((r) => setTimeout(r, 6000));
    stop = true;
    const done: ClientRun[] = await Promise.all(runs);

    const before = done.flatMap((r) => r.outcomes.filter((o) => o.end < killedAt));
    expect(before.filter((o) => o.code)).toEqual([]);
    // Failures: only calls under way at the kill, with a code of the catalogue.
    const failed = done.flatMap((r) =>
      r.outcomes.filter((o) => o.code).map((o) => ({ client: r.name, ...o })),
    );
    const at = (o: { client: string; code?: string; start: number; end: number }) =>
      `${o.client}: ${o.code} (sent at ${o.start - killedAt} ms, answered at ${o.end - killedAt} ms)`;
    expect(
      failed.filter((o) => o.start > killedAt || !IN_FLIGHT_CODES.includes(o.code ?? '')).map(at),
    ).toEqual([]);
    // Every client is served within RECOVERY_MS of the loss and never waits longer after it: the longest
    // time from the kill, then from each success, to the client's next success (a call in flight
    // at the kill, its answer re-sent; or the next call after one that failed).
    const recovery = done.map((r) => {
      let last = killedAt;
      let ms = 0;
      for (const o of r.outcomes) {
        if (o.end < killedAt || o.code) continue;
        ms = Math.max(ms, o.end - last);
        last = o.end;
      }
      return { client: r.name, ms: last === killedAt ? undefined : ms };
    });
    expect(recovery.filter((r) => r.ms === undefined || r.ms > RECOVERY_MS)).toEqual([]);
    const after = done.flatMap((r) => r.outcomes.filter((o) => o.start > killedAt + RECOVERY_MS));
    expect(after.length).toBeGreaterThan(50);
    expect(after.filter((o) => o.code)).toEqual([]);

    // Every accepted async call ends succeeded.
    const accepted = done.flatMap((r) => r.outcomes.filter((o) => o.callId).map((o) => o.callId ?? ''));
    expect(accepted.length).toBeGreaterThan(50);
    const deadline = Date.now() + 60_000;
    const ends = await Promise.all(accepted.map((id) => settled(id, deadline)));
    expect(ends.filter((s) => s !== 'succeeded')).toEqual([]);
    console.log(
      `killed ${victim.n.name} (had ${victim.names.join(', ')}): ${done.reduce((s, r) => s + r.outcomes.length, 0)} calls, ` +
        `failed ${JSON.stringify(failed.map((f) => `${f.client} ${f.code} ${f.end - killedAt} ms`))}, ` +
        `recovery ${JSON.stringify(recovery)}, ${accepted.length} async calls all succeeded`,
    );
  }, 120_000);

  it('leaves no namespace, link or folder of the cluster behind', async () => {
    // In order: the gateways and workers drain over NATS before the nodes stop.
    await platform.close();
    for (const h of hosts) await h.close();
    await cluster.close();
    const names = [...cluster.nodes.map((n) => n.netns), ...hosts.map((h) => h.netns)];
    expect(findTestResidue().filter((r) => names.some((n) => r.includes(n)))).toEqual([]);
  }, 120_000);
});
