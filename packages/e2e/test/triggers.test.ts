/**
 * Triggers on a whole platform: two gateways, two workers on hosts of their own, real
 * containers. A NATS subject trigger makes one call per message across the gateways, answers a
 * request and publishes every result to its replySubject. A JetStream trigger loses no message
 * while the worker running its calls is SIGKILLed under a steady publish (issue #16's "done
 * when"); duplicates are allowed (at least once) and printed.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
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
import { buildTestImage } from '@thaw/runtime/testimages';
import { connect, headers, type Msg, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const prefix = `tr${process.pid}`;
const rt = scratchRuntimeOptions('trg');
let nats: Service;
let redis: Service;
let platform: Platform;
const hosts: WorkerHost[] = [];
let digest: string;
let nc: NatsConnection;

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
  });
  await platform.addGateway();
  const port = Number(new URL(nats.url).port);
  for (const id of ['trw1', 'trw2'])
    hosts.push(await startWorkerHost({ natsPort: port, prefix, workerId: id }));
  const image = await buildTestImage('node-hello', 'oci', join(rt.stateDir, 'archives'));
  ({ digest } = await uploadImage(platform.gatewayUrl, image.path, platform.token));
  nc = await connect({ servers: nats.url });
}, 240_000);

afterAll(async () => {
  await nc?.close();
  await platform?.close();
  const errors: unknown[] = [];
  for (const h of hosts) {
    try {
      // A killed worker left its containers mounted: a new start reclaims them.
      if (h.child.signalCode === 'SIGKILL') await h.start();
      await h.close();
    } catch (err) {
      errors.push(err);
    }
  }
  await redis?.close();
  await nats?.close();
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
  if (errors.length) throw new AggregateError(errors, 'closing the worker hosts');
});

function collect(subject: string): Msg[] {
  const got: Msg[] = [];
  nc.subscribe(subject, { callback: (_e, m) => got.push(m) });
  return got;
}

/** Waits until `ok()`, running `poll` before each look when given. */
async function until(what: string, ok: () => boolean, ms: number, poll?: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    await poll?.();
    if (ok()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(poll ? 200 : 50);
  }
}

interface Echo {
  method: string;
  path: string;
  headers: Record<string, string>;
  bodyLength: number;
}

describe('a NATS subject trigger', () => {
  it('calls the function once per message across two gateways, answers requests, publishes results', async () => {
    const subject = `orders${process.pid}`;
    const replySubject = `orders-done${process.pid}`;
    await deployFunction(
      platform.gatewayUrl,
      {
        name: 'subfn',
        image: digest,
        triggers: [{ type: 'nats', subject: `${subject}.*`, path: '/orders', replySubject }],
      },
      platform.token,
    );
    const results = collect(replySubject);
    // Answered once both gateways had the change and the instance is warm.
    let answer: Msg | undefined;
    await until(
      'a request is answered',
      () => {
        if (!answer) {
          nc.request(`${subject}.warm`, 'hi', { timeout: 5000 }).then(
            (m) => {
              answer = m;
            },
            () => undefined,
          );
        }
        return answer !== undefined;
      },
      60_000,
    );
    await sleep(1000);
    const reply = await nc.request(`${subject}.eu`, 'asked', { timeout: 10_000 });
    expect(reply.headers?.get('thaw-status')).toBe('200');
    expect(reply.headers?.get('thaw-function')).toBe('subfn');
    expect(reply.headers?.get('thaw-source-subject')).toBe(`${subject}.eu`);
    const echo = reply.json<Echo>();
    expect(echo).toMatchObject({ method: 'POST', path: '/orders', bodyLength: 5 });
    expect(echo.headers).toMatchObject({ 'x-thaw-trigger': 'nats', 'x-nats-subject': `${subject}.eu` });

    const before = results.length;
    for (let i = 0; i < 30; i++) {
      const h = headers();
      h.set('Msg-Id', `m${i}`);
      nc.publish(`${subject}.eu`, `message ${i}`, { headers: h });
    }
    await until('30 results', () => results.length >= before + 30, 30_000);
    // Had each gateway taken every message, the results would keep coming.
    await sleep(1000);
    const ids = results.slice(before).map((m) => m.json<Echo>().headers['x-nats-header-msg-id']);
    expect(ids.sort()).toEqual([...Array(30).keys()].map((i) => `m${i}`).sort());
  }, 120_000);
});

describe('a JetStream trigger', () => {
  it('loses no message while the worker running its calls is SIGKILLed', async () => {
    const stream = `EV${process.pid}`;
    const subject = `ev${process.pid}`;
    const replySubject = `ev-done${process.pid}`;
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: stream, subjects: [`${subject}.>`] });
    await deployFunction(
      platform.gatewayUrl,
      {
        name: 'jsfn',
        image: digest,
        asyncConcurrency: 4,
        timeoutMs: 10_000,
        triggers: [{ type: 'jetstream', stream, path: '/sleep?ms=300', replySubject, maxDeliver: 20 }],
      },
      platform.token,
    );
    const results = collect(replySubject);
    // The gateways' acknowledgements ($JS.ACK.<stream>.<consumer>.<delivery>.<stream seq>...):
    // a nak shows a call that failed and comes again.
    const acks = collect(`$JS.ACK.${stream}.>`);
    const js = nc.jetstream();
    await js.publish(`${subject}.warm`, 'warm');
    await until('the warm-up result', () => results.length > 0, 60_000);
    // The worker holding the function, once a heartbeat has carried it: killing it meets calls.
    let holders: string[] = [];
    await until(
      'a worker holds the function',
      () => holders.length > 0,
      10_000,
      async () => {
        holders = unwrap(
          await platform.api.GET('/v1/functions/{name}', { params: { path: { name: 'jsfn' } } }),
        ).workers.map((w) => w.worker);
      },
    );
    const victim = hosts.find((h) => holders.includes(h.workerId));
    if (!victim) throw new Error(`the function is held by no known worker: ${holders.join(', ')}`);

    const COUNT = 200;
    for (let i = 0; i < COUNT; i++) {
      await js.publish(`${subject}.${i}`, String(i));
      if (i === 60) await victim.kill();
      await sleep(20);
    }
    const ok = () => {
      const done = new Map<string, number>();
      for (const m of results) {
        if (m.headers?.get('thaw-status') !== '200') continue;
        const id = m.headers.get('thaw-source-subject');
        done.set(id, (done.get(id) ?? 0) + 1);
      }
      return done;
    };
    await until(`a 200 result for each of ${COUNT} messages`, () => ok().size >= COUNT + 1, 90_000);
    const done = ok();
    const missing = [...Array(COUNT).keys()].filter((i) => !done.has(`${subject}.${i}`));
    expect(missing).toEqual([]);
    const duplicates = [...done.values()].filter((n) => n > 1).length;
    const failed = results.filter((m) => m.headers?.get('thaw-status') !== '200').length;
    const info = await jsm.consumers.info(stream, (await jsm.consumers.list(stream).next())[0]?.name ?? '');
    const naks = acks.filter((m) => m.string().startsWith('-NAK')).length;
    const redelivered = new Set(
      acks.filter((m) => Number(m.subject.split('.')[4]) > 1).map((m) => m.subject.split('.')[5]),
    ).size;
    console.log(
      `jetstream trigger: ${COUNT} messages, worker ${victim.workerId} killed after 61: none lost, ${duplicates} with more than one 200 result, ${naks} naks, ${redelivered} messages delivered more than once, ${failed} failed results`,
    );
    expect(failed).toBe(0);
    // The kill met calls in flight (the slots are full at this rate): they failed and came again.
    expect(naks).toBeGreaterThan(0);
    expect(redelivered).toBeGreaterThan(0);
    expect([info.num_pending, info.num_ack_pending]).toEqual([0, 0]);
    await jsm.streams.delete(stream);
  }, 180_000);
});
