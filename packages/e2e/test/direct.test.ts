import { rm } from 'node:fs/promises';
import { connect } from 'node:net';
import {
  deployFunction,
  type Platform,
  type Service,
  startNats,
  startPlatform,
  startRedis,
  startWorkerHost,
  unwrap,
  uploadImage,
  type WorkerHost,
} from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { subjects, WorkerHeartbeat } from '@thaw/shared';
import { JSONCodec, type NatsConnection, connect as natsConnect } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callSends, directFunctionImage, hostAddress, sendsSince } from './direct-fn.js';

// The direct link (docs/direct-link.md) across "hosts": two workers in network namespaces of
// their own, a gateway with the link on and one with it off in the root namespace, one NATS and
// one Redis. Which way each call went is read from the gateways' own counters.
const prefix = `dl${process.pid}`;
const scratch = scratchRuntimeOptions('dl');
let nats: Service;
let redis: Service;
let platform: Platform;
/** A second gateway on the same NATS and Redis, with THAW_DIRECT=off. */
let natsOnly: Platform;
const hosts: WorkerHost[] = [];
let digest: string;
// The test's own NATS connection, for the workers' heartbeats as sent (with the link's token).
let wire: NatsConnection;
const lastBeat = new Map<string, WorkerHeartbeat>();

interface Answer {
  status: number;
  body: { i?: string; runs?: number; outcome?: string; cgroup?: string; error?: { code: string } };
  end: number;
}

/** Load before and after the drain in the drain test (the drain itself takes what it takes). */
const DRAIN_LOAD_MS = 1500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  nats = await startNats({ listen: '0.0.0.0' });
  redis = await startRedis();
  const common = { natsUrl: nats.url, redisUrl: redis.url, gatewayPort: 0, prefix, worker: false };
  platform = await startPlatform({ ...common, logs: 'buffer' });
  natsOnly = await startPlatform({
    ...common,
    logs: 'buffer',
    adminToken: platform.token,
    gatewayEnv: { THAW_DIRECT: 'off' },
  });
  const natsPort = Number(new URL(nats.url).port);
  for (const id of ['d1', 'd2']) hosts.push(await startWorkerHost({ natsPort, prefix, workerId: id }));
  const image = await directFunctionImage(scratch.stateDir);
  ({ digest } = await uploadImage(platform.gatewayUrl, image.path, platform.token));
  wire = await natsConnect({ servers: nats.url });
  const json = JSONCodec<unknown>();
  wire.subscribe(subjects(prefix).heartbeat, {
    callback: (_err, msg) => {
      const beat = WorkerHeartbeat.safeParse(json.decode(msg.data));
      if (beat.success) lastBeat.set(beat.data.workerId, beat.data);
    },
  });
}, 180_000);

afterAll(async () => {
  await wire?.close();
  await natsOnly?.close();
  await platform?.close();
  const errors: unknown[] = [];
  for (const h of hosts) {
    try {
      // A worker killed and not started again (a test failed on the way) left its containers: a
      // new start reclaims them.
      if (h.child.signalCode === 'SIGKILL') await h.start();
      await h.close();
    } catch (err) {
      errors.push(err);
    }
  }
  await redis?.close();
  await nats?.close();
  await rm(scratch.stateDir, { recursive: true, force: true });
  if (errors.length) throw new AggregateError(errors, 'closing the worker hosts');
}, 180_000);

async function call(gatewayUrl: string, path: string): Promise<Answer> {
  const res = await platform.fetch(`${gatewayUrl}${path}`, { signal: AbortSignal.timeout(30_000) });
  return { status: res.status, body: (await res.json()) as Answer['body'], end: Date.now() };
}

/** The worker whose cgroup parent is in an answer's cgroup path. */
function ranOn(a: Answer): string | undefined {
  return hosts.find((h) => a.body.cgroup?.includes(`/${h.runtime.cgroupParent}/`))?.workerId;
}

function host(workerId: string | undefined): WorkerHost {
  const h = hosts.find((x) => x.workerId === workerId);
  if (!h) throw new Error(`no worker host ${workerId}`);
  return h;
}

async function beatOf(workerId: string): Promise<WorkerHeartbeat | undefined> {
  return lastBeat.get(workerId);
}

/** Waits until `ok` holds, polling every 100 ms. */
async function until<T>(
  what: string,
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms (last: ${JSON.stringify(v)})`);
    await sleep(100);
  }
}

/** The workers the gateway's heartbeats say hold `name` (its direct links go to these). */
async function holders(name: string): Promise<string[]> {
  const fn = unwrap(await platform.api.GET('/v1/functions/{name}', { params: { path: { name } } }));
  return fn.workers.map((w) => w.worker);
}

/** Deploys `name` with one instance per worker, calls it once (placing it) and waits for a heartbeat to list it. */
async function deployWarm(name: string): Promise<WorkerHost> {
  await deployFunction(
    platform.gatewayUrl,
    { name, image: digest, maxInstances: 1, concurrency: 8, timeoutMs: 30_000 },
    platform.token,
  );
  const first = await call(platform.gatewayUrl, `/fn/${name}/runs?key=warm`);
  expect(first.status).toBe(200);
  const holder = host(ranOn(first));
  await until(
    `a heartbeat listing ${name}`,
    () => holders(name),
    (ws) => ws.includes(holder.workerId),
  );
  return holder;
}

/** `n` calls of /echo over `clients` connections; every answer must be its own call's. */
async function echoes(gatewayUrl: string, name: string, n: number, clients: number): Promise<Answer[]> {
  let next = 0;
  const wrong: { i: number; status: number; body: unknown }[] = [];
  const answers: Answer[] = [];
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < n) {
        const i = next++;
        const a = await call(gatewayUrl, `/fn/${name}/echo?i=${i}`);
        answers.push(a);
        if (a.status !== 200 || a.body.i !== String(i)) wrong.push({ i, status: a.status, body: a.body });
      }
    }),
  );
  expect(wrong).toEqual([]);
  return answers;
}

/** Worker → the token its first start advertised (a restart must advertise another). */
const firstTokens = new Map<string, string>();

describe('calls over the direct link', () => {
  it('workers advertise their own host address; a held function is called over the link, every call answered right', async () => {
    for (const h of hosts) {
      const beat = await until(
        `${h.workerId}'s heartbeat`,
        () => beatOf(h.workerId),
        (b) => !!b?.direct,
      );
      // Inside its namespace: where NATS was reached from, not loopback (a gateway elsewhere could not dial that).
      expect(beat?.direct?.host).toBe(hostAddress(h.netns, h.runtime.bridge));
      expect(beat?.direct?.host).not.toMatch(/^127\./);
      expect(beat?.direct?.port).toBeGreaterThan(0);
      firstTokens.set(h.workerId, beat?.direct?.token ?? '');
    }
    expect(new Set(firstTokens.values()).size).toBe(hosts.length);

    // The placing call goes over NATS (nobody holds the function yet), and so would any call made
    // before a heartbeat lists the function; deployWarm waits for that. From then on every first
    // try has a link, and with 4 clients on concurrency 8 nothing is refused and sent again: the
    // bound is all 200 over the link, none over NATS.
    await deployWarm('echo');
    const before = await callSends(platform.gatewayUrl);
    await echoes(platform.gatewayUrl, 'echo', 200, 4);
    expect(sendsSince(before, await callSends(platform.gatewayUrl))).toEqual({ direct: 200, nats: 0 });
  }, 60_000);

  it('a gateway with THAW_DIRECT=off beside one with it on: both serve; the off one sends over NATS only', async () => {
    const onBefore = await callSends(platform.gatewayUrl);
    const offBefore = await callSends(natsOnly.gatewayUrl);
    await echoes(natsOnly.gatewayUrl, 'echo', 50, 4);
    await echoes(platform.gatewayUrl, 'echo', 50, 4);
    expect(sendsSince(offBefore, await callSends(natsOnly.gatewayUrl))).toEqual({ direct: 0, nats: 50 });
    expect(sendsSince(onBefore, await callSends(platform.gatewayUrl))).toEqual({ direct: 50, nats: 0 });
  }, 60_000);
});

describe('a worker killed while it serves a call over its link', () => {
  let victim: WorkerHost;
  let survivor: WorkerHost;

  it('fails that call with WORKER_LOST within 3 s; the next calls are served by the other worker, where the call never ran', async () => {
    victim = await deployWarm('slow');
    survivor = host(hosts.find((h) => h !== victim)?.workerId);
    const before = await callSends(platform.gatewayUrl);
    const slow = call(platform.gatewayUrl, '/fn/slow/run?key=k&ms=20000');
    // Running once on the victim, as its single instance says (each look is a call too).
    let looks = 0;
    await until(
      'the slow call running',
      async () => {
        looks++;
        return await call(platform.gatewayUrl, '/fn/slow/runs?key=k');
      },
      (a) => a.body.runs === 1 && ranOn(a) === victim.workerId,
    );
    // The slow call and every look went over the link.
    expect(sendsSince(before, await callSends(platform.gatewayUrl))).toEqual({ direct: looks + 1, nats: 0 });

    const killedAt = Date.now();
    await victim.kill();
    const lost = await slow;
    expect(lost.status).toBe(502);
    expect(lost.body.error?.code).toBe('WORKER_LOST');
    expect(lost.end - killedAt).toBeLessThan(3000);
    console.log(`direct link, worker SIGKILLed mid-call: WORKER_LOST after ${lost.end - killedAt} ms`);

    // Placed again on the survivor; its one instance never ran key k: the lost call was not resent.
    const after: Answer[] = [];
    for (let i = 0; i < 10; i++) after.push(await call(platform.gatewayUrl, '/fn/slow/runs?key=k'));
    expect(after.map((a) => [a.status, ranOn(a), a.body.runs])).toEqual(
      after.map(() => [200, survivor.workerId, 0]),
    );
  }, 60_000);

  it('started again (same WORKER_ID, new token), it is called over its new link', async () => {
    // A second start of a worker that still runs would leave the first behind, unreachable.
    if (victim?.child.signalCode !== 'SIGKILL')
      throw new Error('the worker was not killed: the test before failed');
    await victim.start();
    const beat = await until(
      `${victim.workerId}'s new heartbeat`,
      () => beatOf(victim.workerId),
      (b) => !!b?.direct && b.direct.token !== firstTokens.get(victim.workerId),
    );
    expect(beat?.direct?.host).toBe(hostAddress(victim.netns, victim.runtime.bridge));
    // The emptiest worker gets a new function: the one just started.
    expect(await deployWarm('back')).toBe(victim);
    const before = await callSends(platform.gatewayUrl);
    const answers = await echoes(platform.gatewayUrl, 'back', 50, 4);
    expect(answers.filter((a) => ranOn(a) !== victim.workerId)).toEqual([]);
    // The functions placed before the kill are still served, over the survivor's link.
    await echoes(platform.gatewayUrl, 'slow', 20, 2);
    expect(sendsSince(before, await callSends(platform.gatewayUrl))).toEqual({ direct: 70, nats: 0 });
  }, 60_000);
});

describe('the firewall', () => {
  it("an instance cannot open a connection to its worker's direct link (nor the other worker's)", async () => {
    const holder = await deployWarm('probe');
    const other = host(hosts.find((h) => h !== holder)?.workerId);
    for (const h of [holder, other]) {
      const at = (await beatOf(h.workerId))?.direct;
      if (!at) throw new Error(`${h.workerId} advertises no direct link`);
      // The link is there: the test, in the root namespace as a gateway is, connects.
      await new Promise<void>((resolve, reject) => {
        const s = connect({ host: at.host, port: at.port }, () => {
          s.destroy();
          resolve();
        });
        s.once('error', reject);
      });
      const a = await call(platform.gatewayUrl, `/fn/probe/connect?host=${at.host}&port=${at.port}&ms=1500`);
      expect(ranOn(a)).toBe(holder.workerId);
      // Dropped, not refused: nothing answers the instance at all.
      expect({ to: h.workerId, outcome: a.body.outcome }).toEqual({ to: h.workerId, outcome: 'timeout' });
    }
  }, 60_000);
});

describe('a worker drained under load (SIGTERM)', () => {
  it('answers every call 200: calls on its link finish there, new ones go to the other worker', async () => {
    const holder = host((await holders('echo'))[0]);
    let stop = false;
    const failed: { status?: number; error?: string }[] = [];
    let answered = 0;
    const clients = Array.from({ length: 8 }, async () => {
      while (!stop) {
        try {
          const a = await call(platform.gatewayUrl, '/fn/echo/echo?i=d');
          if (a.status === 200) answered++;
          else failed.push({ status: a.status, error: a.body.error?.code });
        } catch (err) {
          failed.push({ error: String(err) });
        }
      }
    });
    const before = await callSends(platform.gatewayUrl);
    await sleep(DRAIN_LOAD_MS);
    await holder.stop();
    await sleep(DRAIN_LOAD_MS);
    stop = true;
    await Promise.all(clients);
    const sent = sendsSince(before, await callSends(platform.gatewayUrl));
    console.log(
      `direct link, worker drained under load: ${answered} answered, sends ${JSON.stringify(sent)}`,
    );
    expect(failed).toEqual([]);
    expect(answered).toBeGreaterThan(50);
    expect(await holders('echo')).not.toContain(holder.workerId);
  }, 60_000);
});
