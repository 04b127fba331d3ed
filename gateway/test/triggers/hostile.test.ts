/**
 * Triggers against a hostile publisher or deployer, on a real nats-server with JetStream: a
 * request's reply subject under thaw or NATS gets no result (an inbox does); a JetStream trigger
 * on an object store's stream, or on a stream made later that keeps thaw's subjects, reads
 * nothing and makes no consumer there, and one changed to keep them is read no more; an idle
 * JetStream trigger at a high asyncConcurrency keeps at most MAX_PULLERS pulls open, and still
 * runs that many calls at once.
 */
import { type Service, startNats } from '@thaw/devkit';
import { createLogger, type FunctionRecord, type Logger, type Trigger } from '@thaw/shared';
import { connect, type JetStreamManager, type Msg, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Answer, Envelope } from '../../src/calls/types.js';
import { MAX_PULLERS, STREAM_RETRY_MS } from '../../src/triggers/jetstream-trigger.js';
import { checkTriggerStreams } from '../../src/triggers/streams.js';
import { Triggers, triggerName } from '../../src/triggers/triggers.js';
import { triggerRecord } from './records.js';

const PREFIX = `hst${process.pid}`;
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

/** One gateway's Triggers for `fn`; every call is recorded and answered by `answer`. */
function gateway(fn: FunctionRecord, answer: (env: Envelope) => Promise<Answer>) {
  const calls: Envelope[] = [];
  const logged: string[] = [];
  const log = createLogger('hostile-test', 'silent');
  const note = ((_o: unknown, msg?: string) => {
    logged.push(msg ?? '');
  }) as Logger['warn'];
  log.warn = note;
  log.error = note;
  const triggers = new Triggers({
    nc: gw,
    prefix: PREFIX,
    current: async (name) => (name === fn.name ? fn : undefined),
    invoke: async (_fn, env) => {
      calls.push(env);
      return answer(env);
    },
    log,
  });
  return { calls, logged, triggers };
}

function collect(subject: string): Msg[] {
  const got: Msg[] = [];
  client.subscribe(subject, { callback: (_e, m) => got.push(m) });
  return got;
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const ok = async (env: Envelope): Promise<Answer> => ({ status: 200, headers: {}, body: env.body });

describe('a request to a subject trigger', () => {
  it("gets no result on a reply subject of thaw or NATS, nor on the trigger's own", async () => {
    const subject = `orders${process.pid}`;
    const fn = triggerRecord('echo', [{ type: 'nats', subject, path: '/' }]);
    const g = gateway(fn, ok);
    const removed = collect(`${PREFIX}.functions.removed`);
    const api = collect(`$JS.API.STREAM.INFO.NOPE${process.pid}`);
    const inbox = collect(`_INBOX.hostile${process.pid}`);
    await g.triggers.sync([fn]);
    await gw.flush();
    await client.flush();
    for (const reply of [`${PREFIX}.functions.removed`, `$JS.API.STREAM.INFO.NOPE${process.pid}`, subject]) {
      client.publish(subject, reply, { reply });
    }
    client.publish(subject, 'inbox', { reply: `_INBOX.hostile${process.pid}` });
    await until('the inbox answer', () => inbox.length === 1, 5000);
    await until('the four calls', () => g.calls.length === 4, 5000);
    await gw.flush();
    await client.flush();
    expect(inbox[0]?.string()).toBe('inbox');
    expect([removed.length, api.length]).toEqual([0, 0]);
    // The trigger's own subject was not published to again (that would be a fifth call).
    expect(g.calls.length).toBe(4);
    // One warning: the next drops within 10 s are counted, not logged.
    expect(g.logged).toHaveLength(1);
    expect(g.logged[0]).toMatch(/^trigger result not published to /);
    await g.triggers.close();
  });
});

describe('a JetStream trigger', () => {
  it(
    "reads neither an object store's stream nor one made later keeping thaw's subjects",
    async () => {
      const bucket = `imgs${process.pid}`;
      const os = await client.jetstream().views.os(bucket);
      await os.putBlob({ name: 'sha256-abc' }, new TextEncoder().encode('IMAGE BYTES'));
      const late = `LATE${process.pid}`;
      const changed = `CHG${process.pid}`;
      await jsm.streams.add({ name: changed, subjects: [`chg${process.pid}.>`] });
      const triggers: Trigger[] = [
        { type: 'jetstream', stream: `OBJ_${bucket}`, maxDeliver: 5, path: '/' },
        { type: 'jetstream', stream: late, maxDeliver: 5, path: '/' },
        { type: 'jetstream', stream: changed, maxDeliver: 5, path: '/' },
      ];
      const fn = triggerRecord('reader', triggers);
      await expect(checkTriggerStreams(fn, PREFIX, client)).rejects.toThrow(
        /triggers\[0\]\.stream: stream "OBJ_.*" holds an object store/,
      );
      const g = gateway(fn, ok);
      await g.triggers.sync([fn]);
      await until('the missing stream warned of', () => g.logged.some((l) => l.includes(late)), 5000);
      // A stream read at first, then made to keep thaw's subjects too: read no more.
      await client.jetstream().publish(`chg${process.pid}.a`, 'before');
      await until('the call before the change', () => g.calls.length === 1, 5000);
      await jsm.streams.update(changed, { subjects: [`chg${process.pid}.>`, `${PREFIX}.chg.>`] });
      await jsm.streams.add({ name: late, subjects: [`${PREFIX}.late.>`] });
      await client.jetstream().publish(`${PREFIX}.late.x`, 'thaw message');
      await expect(checkTriggerStreams(fn, PREFIX, client)).rejects.toThrow(/OBJ_/);
      await expect(
        checkTriggerStreams({ triggers: [triggers[1] as Trigger] }, PREFIX, client),
      ).rejects.toThrow(/keeps "hst\d+\.late\.>", which covers thaw's own subjects/);
      await until(
        'the late stream refused',
        () => g.logged.some((l) => l.includes(`stream "${late}" keeps`)),
        STREAM_RETRY_MS + 5000,
      );
      await until(
        'the changed stream refused',
        () => g.logged.some((l) => l.includes(`stream "${changed}" keeps`)),
        STREAM_RETRY_MS + 5000,
      );
      await client.jetstream().publish(`chg${process.pid}.b`, 'after');
      await new Promise((r) => setTimeout(r, 1000));
      expect(g.logged.filter((l) => /refuses to read: stream "OBJ_/.test(l))).toHaveLength(1);
      expect(g.calls.map((c) => c.body.toString())).toEqual(['before']);
      for (const [stream, t] of [
        [`OBJ_${bucket}`, triggers[0]],
        [late, triggers[1]],
      ] as const) {
        const name = triggerName(PREFIX, 'reader', t as Trigger);
        await expect(jsm.consumers.info(stream, name)).rejects.toThrow(/not found/);
      }
      await g.triggers.close();
      await os.destroy();
      await jsm.streams.delete(late);
      await jsm.streams.delete(changed);
    },
    STREAM_RETRY_MS + 20_000,
  );

  it('keeps at most MAX_PULLERS pulls open when idle, and runs asyncConcurrency calls at once', async () => {
    const stream = `IDLE${process.pid}`;
    await jsm.streams.add({ name: stream, subjects: [`idle${process.pid}.>`] });
    const trigger: Trigger = { type: 'jetstream', stream, maxDeliver: 5, path: '/' };
    const fn = triggerRecord('idle', [trigger], 1000);
    const name = triggerName(PREFIX, 'idle', trigger);
    const pulls = collect(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${name}`);
    await client.flush();
    let running = 0;
    let most = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const g = gateway(fn, async (env) => {
      most = Math.max(most, ++running);
      await gate;
      running--;
      return ok(env);
    });
    await g.triggers.sync([fn]);
    await until('the pulls', () => pulls.length >= MAX_PULLERS, 5000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(pulls.length).toBe(MAX_PULLERS);
    expect(g.logged).toEqual([]);

    const calls = 3 * MAX_PULLERS;
    for (let i = 0; i < calls; i++) await client.jetstream().publish(`idle${process.pid}.m`, String(i));
    await until('every call running at once', () => running === calls, 10_000);
    release();
    await until(
      'every message acked',
      async () => {
        const info = await jsm.consumers.info(stream, name);
        return info.num_pending + info.num_ack_pending === 0;
      },
      10_000,
    );
    expect(most).toBe(calls);
    await g.triggers.sync([]);
    await g.triggers.close();
    await jsm.streams.delete(stream);
  });
});
