/**
 * Triggers against what the stream checks cannot see and against loops, on a real nats-server
 * with JetStream: a stream that sources one keeping thaw's and NATS's subjects delivers none of
 * them to the function (each is terminated), nor a message at MAX_TRIGGER_HOPS; a JetStream
 * trigger whose replySubject its own stream keeps is refused at deploy and publishes no result
 * there; two functions whose triggers answer each other stop after MAX_TRIGGER_HOPS calls.
 */
import { type Service, startNats } from '@thaw/devkit';
import {
  createLogger,
  type FunctionRecord,
  type Logger,
  MAX_TRIGGER_HOPS,
  TRIGGER_HOPS_HEADER,
  type Trigger,
} from '@thaw/shared';
import { connect, headers, type JetStreamManager, type Msg, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Answer, Envelope } from '../../src/calls/types.js';
import { checkTriggerStreams } from '../../src/triggers/streams.js';
import { Triggers, triggerName } from '../../src/triggers/triggers.js';
import { triggerRecord } from './records.js';

const PREFIX = `lps${process.pid}`;
const ID = process.pid;
let nats: Service;
let gw: NatsConnection;
let client: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  nats = await startNats();
  [gw, client] = await Promise.all([connect({ servers: nats.url }), connect({ servers: nats.url })]);
  jsm = await client.jetstreamManager();
});
afterAll(async () => {
  await gw?.close();
  await client?.close();
  await nats?.close();
});

/** One gateway's Triggers for `fns`; every call is recorded (function, body) and echoed. */
function gateway(fns: FunctionRecord[]) {
  const calls: string[] = [];
  const logged: string[] = [];
  const log = createLogger('loops-test', 'silent');
  const note = ((_o: unknown, msg?: string) => {
    logged.push(msg ?? '');
  }) as Logger['warn'];
  log.warn = note;
  log.error = note;
  const triggers = new Triggers({
    nc: gw,
    prefix: PREFIX,
    current: async (name) => fns.find((f) => f.name === name),
    invoke: async (fn, env: Envelope): Promise<Answer> => {
      calls.push(`${fn.name}:${env.body.toString()}`);
      return { status: 200, headers: {}, body: env.body };
    },
    log,
  });
  return { calls, logged, triggers };
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const skipLine = /^trigger did not call the function for a message: /;

describe('a JetStream trigger', () => {
  it("calls no message on thaw's or NATS's subjects copied from another stream, nor one at MAX_TRIGGER_HOPS", async () => {
    const [src, app, copy] = [`SRC${ID}`, `APP${ID}`, `COPY${ID}`];
    await jsm.streams.add({ name: src, subjects: [`${PREFIX}.invoke.*`, `_INBOX.src${ID}.>`] });
    await jsm.streams.add({ name: app, subjects: [`app${ID}.>`] });
    // Named like no refused stream and keeping no subject itself: the stream checks let it be read.
    await jsm.streams.add({ name: copy, sources: [{ name: src }, { name: app }] });
    const trigger: Trigger = { type: 'jetstream', stream: copy, maxDeliver: 5, path: '/' };
    const fn = triggerRecord('copier', [trigger]);
    await expect(checkTriggerStreams(fn, PREFIX, client)).resolves.toBeUndefined();
    const g = gateway([fn]);
    await g.triggers.sync([fn]);
    const js = client.jetstream();
    await js.publish(`${PREFIX}.invoke.victim`, 'thaw call');
    await js.publish(`_INBOX.src${ID}.a`, 'a reply');
    const looped = headers();
    looped.set(TRIGGER_HOPS_HEADER, String(MAX_TRIGGER_HOPS));
    await js.publish(`app${ID}.x`, 'looped', { headers: looped });
    await js.publish(`app${ID}.x`, 'fine');
    const name = triggerName(PREFIX, 'copier', trigger);
    await until(
      'the four copied messages done with',
      async () => {
        const info = await jsm.consumers.info(copy, name).catch(() => undefined);
        return info !== undefined && info.delivered.stream_seq >= 4 && info.num_ack_pending === 0;
      },
      10_000,
    );
    expect(g.calls).toEqual(['copier:fine']);
    // Terminated, not given back: nothing comes again.
    const info = await jsm.consumers.info(copy, name);
    expect([info.num_pending, info.num_redelivered]).toEqual([0, 0]);
    // Three skipped, one line (rate-limited).
    expect(g.logged).toHaveLength(1);
    expect(g.logged[0]).toMatch(skipLine);
    await g.triggers.close();
    for (const s of [copy, app, src]) await jsm.streams.delete(s);
  });

  it('whose replySubject its own stream keeps is refused at deploy, and publishes no result there', async () => {
    const stream = `LOOP${ID}`;
    await jsm.streams.add({ name: stream, subjects: [`loop${ID}.>`] });
    const trigger: Trigger = {
      type: 'jetstream',
      stream,
      maxDeliver: 5,
      path: '/',
      replySubject: `loop${ID}.result`,
    };
    const fn = triggerRecord('looper', [trigger]);
    await expect(checkTriggerStreams(fn, PREFIX, client)).rejects.toThrow(
      /triggers\[0\]\.replySubject: "loop\d+\.result" is kept by stream "LOOP\d+"/,
    );
    // Deployed before the stream kept it (or by an older gateway): the results are dropped.
    const g = gateway([fn]);
    await g.triggers.sync([fn]);
    await client.jetstream().publish(`loop${ID}.in`, 'once');
    await until('the call', () => g.calls.length === 1, 10_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(g.calls).toEqual(['looper:once']);
    expect((await jsm.streams.info(stream)).state.messages).toBe(1);
    expect(g.logged.some((l) => l.startsWith('trigger result not published to "loop'))).toBe(true);
    await g.triggers.close();
    await jsm.streams.delete(stream);
  });
});

describe('two subject triggers answering each other', () => {
  it('stop after MAX_TRIGGER_HOPS calls, each result counting one more hop', async () => {
    const [ping, pong] = [`ping${ID}`, `pong${ID}`];
    const a = triggerRecord('a', [{ type: 'nats', subject: ping, path: '/', replySubject: pong }]);
    const b = triggerRecord('b', [{ type: 'nats', subject: pong, path: '/', replySubject: ping }]);
    const g = gateway([a, b]);
    const seen: Msg[] = [];
    client.subscribe(pong, { callback: (_e, m) => seen.push(m) });
    await client.flush();
    await g.triggers.sync([a, b]);
    await gw.flush();
    client.publish(ping, 'ball');
    await until('the last call', () => g.calls.length >= MAX_TRIGGER_HOPS, 10_000);
    await until('the loop dropped', () => g.logged.some((l) => skipLine.test(l)), 5000);
    await new Promise((r) => setTimeout(r, 500));
    expect(g.calls).toHaveLength(MAX_TRIGGER_HOPS);
    expect(g.calls.slice(0, 2)).toEqual(['a:ball', 'b:ball']);
    expect(seen.map((m) => m.headers?.get(TRIGGER_HOPS_HEADER))).toEqual(['1', '3', '5', '7']);
    await g.triggers.close();
  });
});
