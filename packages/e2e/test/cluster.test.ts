import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  deleteFunction,
  deployFunction,
  findTestResidue,
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
import { nodeImage, writeImageArchive } from '@thaw/runtime/build';
import { InvokeHeader, subjects, WorkerHeartbeat } from '@thaw/shared';
import { connect, JSONCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Three workers, each on a "host" of its own (network namespace, state, cgroup parent,
// bridge, subnet), one gateway, one NATS and one Redis on the machine.
const prefix = `cl${process.pid}`;
const scratch = scratchRuntimeOptions('cl');
let nats: Service;
let redis: Service;
let platform: Platform;
const hosts: WorkerHost[] = [];
let digest: string;
// The test's own NATS connection: it sees on the wire which worker took which call.
let wire: NatsConnection;
const subj = subjects(prefix);
// Reply subject of a call → the worker whose "accepted" message reached it first.
const takers = new Map<string, string>();
// Reply subject → worker, for calls taken and not answered yet.
const inHand = new Map<string, string>();
// Worker → resolvers waiting for its next heartbeat.
const beatWaiters = new Map<string, (() => void)[]>();

// The function reports which worker runs it: an instance's cgroup path holds its worker's
// cgroup parent (no cgroup namespace), which is unique per worker host here.
const WHOAMI = `import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const cgroup = readFileSync('/proc/self/cgroup', 'utf8');
const counts = new Map();
const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://fn');
  const reply = (body) => {
    const text = JSON.stringify({ ...body, cgroup });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  req.resume();
  req.on('end', () => {
    if (url.pathname === '/sleep') {
      const ms = Number(url.searchParams.get('ms') ?? 0);
      setTimeout(() => reply({ slept: ms }), ms);
    } else if (url.pathname === '/count') {
      const key = url.searchParams.get('key') ?? '';
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      reply({ key, n });
    } else reply({});
  });
});
server.keepAliveTimeout = 0;
server.headersTimeout = 0;
server.requestTimeout = 0;
server.listen(Number(process.env.PORT ?? 8080), '0.0.0.0');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

interface Outcome {
  /** The call's number, sent as x-test-call. */
  call: string;
  status: number;
  code?: string;
  /** The worker the function said it ran on (answered calls). */
  ranOn?: string;
  start: number;
  end: number;
}

interface Load {
  /** Calls sent, counted before each fetch. */
  sent: number;
  /** One per call the gateway answered. */
  outcomes: Outcome[];
  /** Calls with no answer (the client gave up, or the connection failed). */
  unanswered: { call: string; error: string }[];
}

/** The worker host whose cgroup parent appears in a function's /proc/self/cgroup. */
function workerOfCgroup(cgroup: unknown): string | undefined {
  if (typeof cgroup !== 'string') return undefined;
  return hosts.find((h) => cgroup.includes(`/${h.runtime.cgroupParent}/`))?.workerId;
}

beforeAll(async () => {
  nats = await startNats({ listen: '0.0.0.0' });
  redis = await startRedis();
  platform = await startPlatform({
    natsUrl: nats.url,
    redisUrl: redis.url,
    gatewayPort: 0,
    prefix,
    logs: 'buffer',
    worker: false,
    // This file watches which worker took each call from the "accepted" messages on NATS: the
    // NATS path's behaviour (placement, spread, WORKER_LOST, drain). The direct link is
    // direct.test.ts's.
    gatewayEnv: { THAW_DIRECT: 'off' },
  });
  const port = Number(new URL(nats.url).port);
  for (const id of ['w1', 'w2', 'w3']) {
    hosts.push(await startWorkerHost({ natsPort: port, prefix, workerId: id }));
  }
  const image = await writeImageArchive(
    nodeImage([{ path: 'app/server.mjs', type: 'file', mode: 0o644, content: WHOAMI }]),
    'oci',
    join(scratch.stateDir, 'archives', 'whoami.oci.tar'),
  );
  ({ digest } = await uploadImage(platform.gatewayUrl, image.path, platform.token));

  wire = await connect({ servers: nats.url });
  const beats = JSONCodec<unknown>();
  wire.subscribe(subj.heartbeat, {
    callback: (_err, msg) => {
      const beat = WorkerHeartbeat.safeParse(beats.decode(msg.data));
      if (!beat.success) return;
      const waiting = beatWaiters.get(beat.data.workerId) ?? [];
      beatWaiters.delete(beat.data.workerId);
      for (const w of waiting) w();
    },
  });
  // Every reply to a gateway goes to its inbox; the first, empty one names the taker.
  wire.subscribe('_INBOX.>', {
    callback: (_err, msg) => {
      const taker = msg.headers?.get(InvokeHeader.accepted);
      if (!taker) inHand.delete(msg.subject);
      else if (!takers.has(msg.subject)) {
        takers.set(msg.subject, taker);
        inHand.set(msg.subject, taker);
      }
    },
  });
  await wire.flush();
}, 240_000);

afterAll(async () => {
  await wire?.close();
  await platform?.close();
  const errors: unknown[] = [];
  for (const h of hosts) {
    try {
      // A worker killed and not started again (a test failed on the way) left its containers
      // mounted: a new start reclaims them.
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
});

async function workersOf(name: string) {
  return unwrap(await platform.api.GET('/v1/functions/{name}', { params: { path: { name } } })).workers;
}

/**
 * `clients` loop calling `path` until `until()` says stop. Each call is counted before it is
 * sent and carries its number; every answer is kept, and so is every call left unanswered.
 */
async function load(path: string, clients: number, until: () => boolean): Promise<Load> {
  const l: Load = { sent: 0, outcomes: [], unanswered: [] };
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (!until()) {
        const call = String(++l.sent);
        const start = Date.now();
        let res: Response;
        let text: string;
        try {
          res = await platform.fetch(`${platform.gatewayUrl}${path}`, {
            headers: { 'x-test-call': call },
            // Far beyond WORKER_LOST's 3 s: a call still open by then was dropped.
            signal: AbortSignal.timeout(15_000),
          });
          text = await res.text();
        } catch (err) {
          l.unanswered.push({ call, error: String(err) });
          continue;
        }
        const o: Outcome = { call, status: res.status, start, end: Date.now() };
        const body = JSON.parse(text) as { cgroup?: unknown; error?: { code: string } };
        if (res.status === 200) {
          const ranOn = workerOfCgroup(body.cgroup);
          if (ranOn) o.ranOn = ranOn;
        } else if (body.error) o.code = body.error.code;
        l.outcomes.push(o);
      }
    }),
  );
  return l;
}

/** Every call to `fn` as published on the wire (resends included): its number and reply subject. */
async function watchCalls(fn: string) {
  const seen: { call: string; reply: string; at: number }[] = [];
  const sub = wire.subscribe(subj.invoke(fn), {
    callback: (_err, msg) => {
      const h = JSON.parse(msg.headers?.get(InvokeHeader.headers) || '{}') as Record<string, unknown>;
      seen.push({ call: String(h['x-test-call']), reply: msg.reply ?? '', at: Date.now() });
    },
  });
  await wire.flush(); // the server has the subscription before any call is made
  return {
    seen,
    /** The worker whose acceptance of `call` came first, as seen on the wire. */
    takerOf: (call: string) => {
      const reply = seen.find((s) => s.call === call)?.reply;
      return reply === undefined ? undefined : takers.get(reply);
    },
    stop: () => sub.unsubscribe(),
  };
}

function nextBeat(workerId: string): Promise<void> {
  return new Promise((resolve) => {
    beatWaiters.set(workerId, [...(beatWaiters.get(workerId) ?? []), resolve]);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A call made now, its answer kept for later (so the test can act while it is under way). */
function callLater(path: string, call: string) {
  const start = Date.now();
  return platform
    .fetch(`${platform.gatewayUrl}${path}`, {
      headers: { 'x-test-call': call },
      signal: AbortSignal.timeout(30_000),
    })
    .then(async (res) => ({
      status: res.status,
      body: (await res.json()) as { n?: number; cgroup?: string; error?: { code: string; message: string } },
      ms: Date.now() - start,
    }));
}

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

// A worker stopped with SIGSTOP stays subscribed (NATS cannot tell it from a slow one) but
// takes nothing: the gateway's acknowledgement timeout (1 s) and its tries (3) show.
describe('calls no worker takes', () => {
  let holder: WorkerHost;

  beforeAll(async () => {
    await deployFunction(
      platform.gatewayUrl,
      { name: 'miss', image: digest, maxInstances: 1, concurrency: 1, timeoutMs: 10_000 },
      platform.token,
    );
    const first = await callLater('/fn/miss/count?key=warm', 'warm');
    expect(first.status).toBe(200);
    const worker = workerOfCgroup(first.body.cgroup);
    const h = hosts.find((x) => x.workerId === worker);
    if (!h) throw new Error(`the function ran on no known worker: ${JSON.stringify(first.body)}`);
    holder = h;
    // Heartbeats tell the gateway where it runs, half a second later at most.
    const deadline = Date.now() + 5000;
    let holders: string[] = [];
    while (Date.now() < deadline) {
      holders = (await workersOf('miss')).map((w) => w.worker);
      if (holders.length) break;
      await sleep(100);
    }
    expect(holders).toEqual([holder.workerId]);
  }, 60_000);

  afterAll(async () => {
    holder?.child.kill('SIGCONT');
    await deleteFunction(platform.gatewayUrl, 'miss', platform.token);
  });

  it('sends a call no worker has taken within 1 s again, and the worker, back, runs it once', async () => {
    const wired = await watchCalls('miss');
    // Stopped just after a heartbeat, and for under three heartbeat periods in all: the
    // gateway must not take the worker as lost meanwhile (that is WORKER_LOST, another test).
    await nextBeat(holder.workerId);
    holder.child.kill('SIGSTOP');
    let answer: ReturnType<typeof callLater>;
    try {
      answer = callLater('/fn/miss/count?key=resent', 'resent');
      await until('the call sent again', () => wired.seen.length >= 2, 5000);
    } finally {
      holder.child.kill('SIGCONT');
    }
    const res = await answer;
    const again = await callLater('/fn/miss/count?key=resent', 'again');
    wired.stop();

    expect(res.status).toBe(200);
    expect(workerOfCgroup(res.body.cgroup)).toBe(holder.workerId);
    const [first, second] = wired.seen.filter((s) => s.call === 'resent');
    expect(second?.reply).toBe(first?.reply); // the same call, not a new one
    const gap = (second?.at ?? 0) - (first?.at ?? 0);
    expect(gap).toBeGreaterThanOrEqual(900);
    expect(gap).toBeLessThan(1500);
    // Both copies reached the worker; it ran the call once.
    expect(res.body.n).toBe(1);
    expect(again.body.n).toBe(2);
  }, 30_000);

  it('answers 503 NO_WORKER when no worker took the call in three tries of 1 s', async () => {
    const wired = await watchCalls('miss');
    holder.child.kill('SIGSTOP');
    let res: Awaited<ReturnType<typeof callLater>>;
    let seen: typeof wired.seen;
    try {
      res = await callLater('/fn/miss/count?key=never', 'never');
      // No fourth try: one more second goes by with nothing new on the wire.
      await sleep(1200);
      seen = wired.seen.filter((s) => s.call === 'never');
    } finally {
      holder.child.kill('SIGCONT');
      wired.stop();
    }

    expect(res.status).toBe(503);
    expect(res.body.error?.code).toBe('NO_WORKER');
    expect(seen.length).toBe(3);
    expect(new Set(seen.map((s) => s.reply)).size).toBe(1);
    for (let i = 1; i < seen.length; i++) {
      const gap = (seen[i]?.at ?? 0) - (seen[i - 1]?.at ?? 0);
      expect(gap).toBeGreaterThanOrEqual(900);
      expect(gap).toBeLessThan(1500);
    }
    expect(res.ms).toBeGreaterThanOrEqual(2900);
    expect(res.ms).toBeLessThan(4500);
  }, 30_000);
});

describe('many hosts', () => {
  it('sees every worker through its heartbeats, with its memory budget', async () => {
    const deadline = Date.now() + 5000;
    let ids: string[] = [];
    while (Date.now() < deadline) {
      ids = unwrap(await platform.api.GET('/v1/workers')).workers.map((w) => w.workerId);
      if (ids.length === 3) break;
      await sleep(100);
    }
    expect(ids).toEqual(['w1', 'w2', 'w3']);
  });

  it('spreads a saturated function over the workers, and a killed worker fails only its own calls, with WORKER_LOST within 3 s', async () => {
    await deployFunction(
      platform.gatewayUrl,
      {
        name: 'burst',
        image: digest,
        maxInstances: 2,
        concurrency: 1,
        timeoutMs: 20_000,
      },
      platform.token,
    );
    // Placed before the watch starts: a watcher is a subscriber, and the first call needs
    // NATS to say that nobody holds the function yet.
    expect((await platform.fetch(`${platform.gatewayUrl}/fn/burst/sleep?ms=0`)).status).toBe(200);
    const wired = await watchCalls('burst');
    let stop = false;
    let killedAt = 0;
    const running = load('/fn/burst/sleep?ms=50', 12, () => stop);
    let l: Load;
    try {
      // Twelve clients, two instances per worker: the function spreads to all three.
      const deadline = Date.now() + 20_000;
      while ((await workersOf('burst')).length < 3 && Date.now() < deadline) await sleep(200);
      const spread = await workersOf('burst');
      expect(spread.map((w) => w.worker)).toEqual(['w1', 'w2', 'w3']);

      // Killed while it has calls in hand (as the wire shows), so that some must fail.
      await until('w2 holding a call', () => [...inHand.values()].includes('w2'), 10_000);
      const victim = hosts.find((h) => h.workerId === 'w2');
      killedAt = Date.now();
      await victim?.kill();
      await sleep(4000);
    } finally {
      stop = true;
      l = await running;
      wired.stop();
    }
    const { outcomes } = l;

    // Every call sent has exactly one answer.
    expect({ sent: l.sent, unanswered: l.unanswered }).toEqual({ sent: outcomes.length, unanswered: [] });
    expect(new Set(outcomes.map((o) => o.call)).size).toBe(l.sent);

    // Which worker took each call, from its "accepted" message on the wire (not the gateway's
    // word), and where each answered call ran, from the function itself.
    const taken = outcomes.map((o) => ({ ...o, taker: wired.takerOf(o.call) }));
    expect(taken.filter((o) => !o.taker)).toEqual([]);
    const served = taken.filter((o) => o.status === 200);
    expect(served.filter((o) => o.ranOn !== o.taker)).toEqual([]);

    const failed = taken.filter((o) => o.status !== 200);
    expect(failed.map((o) => o.code)).toEqual(failed.map(() => 'WORKER_LOST'));
    // The killed worker had calls in hand, and they, only they, failed.
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.map((o) => o.taker)).toEqual(failed.map(() => 'w2'));
    expect(taken.filter((o) => o.taker !== 'w2' && o.status !== 200)).toEqual([]);
    for (const f of failed) {
      expect(f.start).toBeLessThan(killedAt + 100);
      expect(f.end - killedAt).toBeLessThan(3000);
    }
    // Calls after the kill are served by the other two.
    const after = taken.filter((o) => o.start > killedAt + 100);
    expect(after.length).toBeGreaterThan(20);
    expect(after.filter((o) => o.status !== 200 || !['w1', 'w3'].includes(o.ranOn ?? ''))).toEqual([]);
    expect((await workersOf('burst')).map((w) => w.worker)).toEqual(['w1', 'w3']);
    console.log(
      `kill mid-burst: ${l.sent} calls, ${served.length} served, ${failed.length} WORKER_LOST (all taken by w2)`,
    );
  }, 90_000);

  it('a killed worker, started again, removes what it left behind', async () => {
    const victim = hosts.find((h) => h.workerId === 'w2');
    if (!victim) throw new Error('no w2');
    const mounts = () =>
      readFileSync('/proc/self/mounts', 'utf8')
        .split('\n')
        .filter((l) => l.includes(`${victim.runtime.stateDir}/`)).length;
    expect(mounts()).toBeGreaterThan(0); // its instances' root file systems, left mounted
    await victim.start();
    expect(victim.output()).toMatch(/removed containers left by an earlier run/);
    expect(mounts()).toBe(0);
  }, 60_000);

  it('a draining worker (SIGTERM) finishes its calls and hands its load to the others without a failure', async () => {
    let stop = false;
    const running = load('/fn/burst/sleep?ms=50', 8, () => stop);
    await sleep(1500);
    const holder = (await workersOf('burst'))[0]?.worker;
    const host = hosts.find((h) => h.workerId === holder);
    if (!host) throw new Error('no worker holds the function');
    await host.stop();
    await sleep(2000);
    stop = true;
    const { sent, outcomes, unanswered } = await running;
    expect({ sent, unanswered }).toEqual({ sent: outcomes.length, unanswered: [] });
    expect(outcomes.filter((o) => o.status !== 200)).toEqual([]);
    expect(outcomes.length).toBeGreaterThan(50);
    expect((await workersOf('burst')).map((w) => w.worker)).not.toContain(holder);
  }, 60_000);

  it('leaves nothing of the workers on the host once they stop', async () => {
    for (const h of hosts) await h.close();
    const names = hosts.flatMap((h) => [
      h.netns,
      h.runtime.cgroupParent,
      h.runtime.stateDir,
      h.runtime.runDir,
    ]);
    expect(findTestResidue().filter((r) => names.some((n) => r.includes(n)))).toEqual([]);
  }, 120_000);
});
