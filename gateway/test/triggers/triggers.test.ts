/**
 * Triggers on a real nats-server with JetStream, two gateways' worth of them (two Triggers on
 * their own connections) and a scripted `invoke` standing in for the worker path (the e2e tests
 * in packages/e2e/test/triggers*.test.ts run real workers): each message is one call across
 * gateways, a request gets its answer, results reach the replySubject; a JetStream message is
 * acked once answered, retried on 5xx and platform failures, given up at maxDeliver; a missing
 * stream is waited for; the durable consumer goes with its trigger, not with a gateway.
 */
import { type Service, startNats } from '@thaw/devkit';
import { createLogger, type FunctionRecord, type Logger, ThawError, type Trigger } from '@thaw/shared';
import { connect, type JetStreamManager, type Msg, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Answer, Envelope } from '../../src/calls/types.js';
import { STREAM_RETRY_MS } from '../../src/triggers/jetstream-trigger.js';
import { MAX_WAITING_MESSAGES } from '../../src/triggers/nats-trigger.js';
import { Triggers, triggerName } from '../../src/triggers/triggers.js';
import { triggerRecord } from './records.js';

const PREFIX = `trg${process.pid}`;
let nats: Service;
let ncs: NatsConnection[];
let jsm: JetStreamManager;

beforeAll(async () => {
  nats = await startNats();
  ncs = await Promise.all([0, 1, 2].map(() => connect({ servers: nats.url })));
  jsm = await (ncs[2] as NatsConnection).jetstreamManager();
});
afterAll(async () => {
  for (const nc of ncs ?? []) await nc.close();
  await nats?.close();
});

const client = () => ncs[2] as NatsConnection;

interface Call {
  gateway: number;
  env: Envelope;
}

/** Two gateways' Triggers for `fn`, with `answer` as every call's outcome. */
function gateways(fn: FunctionRecord, answer: (env: Envelope) => Answer | ThawError, log?: Logger) {
  const calls: Call[] = [];
  const all = [0, 1].map(
    (gateway) =>
      new Triggers({
        nc: ncs[gateway] as NatsConnection,
        prefix: PREFIX,
        current: async (name) => (name === fn.name ? fn : undefined),
        invoke: async (_fn, env) => {
          calls.push({ gateway, env });
          const a = answer(env);
          if (a instanceof ThawError) throw a;
          return a;
        },
        log: log ?? createLogger('triggers-test', 'silent'),
      }),
  );
  return { calls, all, sync: (fns: FunctionRecord[]) => Promise.all(all.map((t) => t.sync(fns))) };
}

/** Collects the results published to `subject`. */
function results(subject: string): Msg[] {
  const got: Msg[] = [];
  client().subscribe(subject, { callback: (_e, m) => got.push(m) });
  return got;
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const ok = (body: string): Answer => ({
  status: 200,
  headers: { 'content-type': 'text/plain' },
  body: Buffer.from(body),
});

describe('NATS subject triggers', () => {
  it('make one call per message across two gateways, answer requests, and publish every result', async () => {
    const fn = triggerRecord('sub', [
      { type: 'nats', subject: `orders${process.pid}.*`, path: '/o', replySubject: `res${process.pid}` },
    ]);
    const g = gateways(fn, (env) => ok(`done ${env.body.toString()}`));
    const got = results(`res${process.pid}`);
    await g.sync([fn]);
    await client().flush();
    for (let i = 0; i < 40; i++) client().publish(`orders${process.pid}.eu`, `m${i}`);
    await until('40 results', () => got.length >= 40, 10_000);
    const reply = await client().request(`orders${process.pid}.us`, 'asked', { timeout: 5000 });
    expect(reply.string()).toBe('done asked');
    expect(reply.headers?.get('thaw-status')).toBe('200');
    expect(reply.headers?.get('thaw-source-subject')).toBe(`orders${process.pid}.us`);

    const bodies = g.calls.map((c) => c.env.body.toString());
    expect(bodies.filter((b) => b !== 'asked').sort()).toEqual(
      [...Array(40).keys()].map((i) => `m${i}`).sort(),
    );
    expect(new Set(g.calls.map((c) => c.gateway))).toEqual(new Set([0, 1]));
    expect(g.calls[0]?.env).toMatchObject({
      method: 'POST',
      path: '/o',
      headers: { 'x-thaw-trigger': 'nats' },
    });
    await until('the request result too', () => got.length === 41, 5000);
    expect(got.every((m) => m.headers?.get('thaw-function') === 'sub')).toBe(true);
    await Promise.all(g.all.map((t) => t.close()));
  });
});

describe('a flood on a subject trigger', () => {
  it('runs asyncConcurrency calls at once per gateway, keeps the next ones waiting, refuses the rest', async () => {
    const subject = `flood${process.pid}`;
    const fn = triggerRecord(
      'flood',
      [{ type: 'nats', subject, path: '/', replySubject: `floodres${process.pid}` }],
      2,
    );
    let running = 0;
    let most = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const calls: string[] = [];
    const t = new Triggers({
      nc: ncs[0] as NatsConnection,
      prefix: PREFIX,
      current: async () => fn,
      invoke: async (_fn, env) => {
        calls.push(env.body.toString());
        most = Math.max(most, ++running);
        await gate;
        running--;
        return ok('');
      },
      log: createLogger('triggers-test', 'silent'),
    });
    const got = results(`floodres${process.pid}`);
    await t.sync([fn]);
    await client().flush();
    const total = 2 + MAX_WAITING_MESSAGES + 5;
    for (let i = 0; i < total; i++) client().publish(subject, String(i));
    await until('the refusals', () => got.length >= 5, 10_000);
    expect(got.map((m) => m.headers?.get('thaw-error'))).toEqual(Array(5).fill('OVERLOADED'));
    expect(got.map((m) => m.headers?.get('thaw-status'))).toEqual(Array(5).fill('429'));
    expect(calls).toEqual(['0', '1']);
    release();
    await until('every kept message called', () => got.length >= total, 20_000);
    expect(most).toBe(2);
    expect(calls.length).toBe(2 + MAX_WAITING_MESSAGES);
    await t.close();
  });
});

describe('JetStream triggers', () => {
  it('ack answered messages, retry 5xx and lost workers, and give up at maxDeliver', async () => {
    const stream = `S${process.pid}`;
    await jsm.streams.add({ name: stream, subjects: [`js${process.pid}.>`] });
    const trigger: Trigger = {
      type: 'jetstream',
      stream,
      maxDeliver: 3,
      path: '/js',
      replySubject: `jsres${process.pid}`,
    };
    const fn = triggerRecord('jsfn', [trigger]);
    const seen = new Map<string, number>();
    const g = gateways(fn, (env) => {
      const what = env.body.toString();
      const n = (seen.get(what) ?? 0) + 1;
      seen.set(what, n);
      if (what === 'flaky' && n === 1) return { status: 503, headers: {}, body: Buffer.alloc(0) };
      if (what === 'lost' && n === 1) return new ThawError('WORKER_LOST');
      if (what === 'bad') return { status: 400, headers: {}, body: Buffer.from('no') };
      if (what === 'broken') return { status: 500, headers: {}, body: Buffer.from('boom') };
      return ok(what);
    });
    const got = results(`jsres${process.pid}`);
    await g.sync([fn]);
    const js = client().jetstream();
    for (const what of ['ok', 'flaky', 'lost', 'bad', 'broken'])
      await js.publish(`js${process.pid}.${what}`, what);
    await until('five results', () => got.length >= 5, 20_000);
    expect(Object.fromEntries(seen)).toEqual({ ok: 1, flaky: 2, lost: 2, bad: 1, broken: 3 });
    const status = Object.fromEntries(got.map((m) => [m.string(), m.headers?.get('thaw-status')]));
    expect(status).toEqual({ ok: '200', flaky: '200', lost: '200', no: '400', boom: '500' });
    const name = triggerName(PREFIX, 'jsfn', trigger);
    const info = await jsm.consumers.info(stream, name);
    expect(info.config.max_deliver).toBe(3);
    expect([info.num_pending, info.num_ack_pending]).toEqual([0, 0]);
    expect(g.calls.find((c) => c.env.body.toString() === 'broken')?.env.headers).toMatchObject({
      'x-thaw-trigger': 'jetstream',
      'x-nats-stream': stream,
    });

    // A gateway closing leaves the consumer to the others; the trigger removed takes it along.
    await g.all[0]?.close();
    await jsm.consumers.info(stream, name);
    await g.all[1]?.sync([]);
    await expect(jsm.consumers.info(stream, name)).rejects.toThrow(/not found/);
    await g.all[1]?.close();
    await jsm.streams.delete(stream);
  });

  it(
    'waits for a stream that does not exist yet, with a warning',
    async () => {
      const stream = `LATE${process.pid}`;
      const fn = triggerRecord('late', [{ type: 'jetstream', stream, maxDeliver: 5, path: '/' }]);
      const warnings: string[] = [];
      const log = createLogger('triggers-test', 'silent');
      log.warn = ((_o: unknown, msg?: string) => {
        warnings.push(msg ?? '');
      }) as Logger['warn'];
      const g = gateways(fn, (env) => ok(env.body.toString()), log);
      await g.sync([fn]);
      await until('a warning', () => warnings.length > 0, 5000);
      expect(warnings[0]).toMatch(new RegExp(`cannot read stream "${stream}"`));
      await jsm.streams.add({ name: stream, subjects: [`late${process.pid}`] });
      await client().jetstream().publish(`late${process.pid}`, 'hello');
      await until('the call', () => g.calls.length === 1, STREAM_RETRY_MS + 5000);
      await g.sync([]);
      await Promise.all(g.all.map((t) => t.close()));
      await jsm.streams.delete(stream);
    },
    STREAM_RETRY_MS + 20_000,
  );
});
