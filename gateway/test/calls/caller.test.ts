/**
 * The Caller's guarantees on a real nats-server, with a stand-in worker that answers as told:
 * an untaken call is sent again and fails with NO_WORKER after the last try; a taken call is
 * never sent again; a taken call with no answer fails with FUNCTION_TIMEOUT at its deadline;
 * a taken call whose worker is lost fails with WORKER_LOST; on a reconnect, the workers are asked
 * again for the answers of the calls still pending, and one re-sent settles its call.
 */
import { type Service, startNats } from '@thaw/devkit';
import { encodeAccepted, HeaderBlock, ThawError } from '@thaw/shared';
import { connect, headers, type Msg, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Caller } from '../../src/calls/caller.js';
import type { Liveness } from '../../src/cluster/view.js';

let nats: Service;
let nc: NatsConnection;
let seq = 0;
const settings = { ackTimeoutMs: 150, maxAttempts: 3, checkEveryMs: 50 };

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
});
afterAll(async () => {
  await nc?.close();
  await nats?.close();
});

/** A stand-in worker on a subject of its own: what it received, and an acceptance per message if asked. */
function standIn(accept: boolean): { subject: string; got: Msg[] } {
  const subject = `caller-test.${process.pid}.${++seq}`;
  const got: Msg[] = [];
  const accepted = headers();
  encodeAccepted('w1', accepted);
  nc.subscribe(subject, {
    callback: (_e, msg) => {
      got.push(msg);
      if (accept) msg.respond(new Uint8Array(0), { headers: accepted });
    },
  });
  return { subject, got };
}

const alive = (state: boolean | undefined): Liveness => ({ alive: () => state, graceMs: () => 1000 });

async function failure(p: Promise<unknown>): Promise<{ code: string; ms: number }> {
  const t0 = Date.now();
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ThawError);
  return { code: (err as ThawError).code, ms: Date.now() - t0 };
}

describe('Caller', () => {
  it('sends an untaken call again, then fails it with NO_WORKER after the last try', async () => {
    const caller = new Caller({ nc, liveness: alive(true), settings });
    const w = standIn(false);
    await nc.flush();
    const f = await failure(caller.call(w.subject, new Uint8Array(0), new HeaderBlock(), 10_000));
    expect(f.code).toBe('NO_WORKER');
    expect(w.got).toHaveLength(3);
    expect(f.ms).toBeGreaterThanOrEqual(3 * settings.ackTimeoutMs);
    caller.close();
  });

  it('never sends a taken call again, and fails it at its deadline with FUNCTION_TIMEOUT', async () => {
    const caller = new Caller({ nc, liveness: alive(true), settings });
    const w = standIn(true);
    await nc.flush();
    const f = await failure(caller.call(w.subject, new Uint8Array(0), new HeaderBlock(), 600));
    expect(f.code).toBe('FUNCTION_TIMEOUT');
    expect(f.ms).toBeGreaterThanOrEqual(600);
    expect(f.ms).toBeLessThan(600 + 4 * settings.checkEveryMs);
    expect(w.got).toHaveLength(1);
    caller.close();
  });

  it('fails a taken call with WORKER_LOST once its worker is known dead, not at the deadline', async () => {
    const caller = new Caller({ nc, liveness: alive(false), settings });
    const w = standIn(true);
    await nc.flush();
    const f = await failure(caller.call(w.subject, new Uint8Array(0), new HeaderBlock(), 10_000));
    expect(f.code).toBe('WORKER_LOST');
    expect(f.ms).toBeLessThan(1000);
    expect(w.got).toHaveLength(1);
    caller.close();
  });

  it('on a reconnect, asks for the answers of its pending calls; a re-sent answer settles the call', async () => {
    const own = await connect({ servers: nats.url, reconnectTimeWait: 50, maxReconnectAttempts: -1 });
    const replaySubject = `caller-test.${process.pid}.replay`;
    const caller = new Caller({ nc: own, liveness: alive(true), settings, replaySubject });
    // A worker that took the call and whose answer was lost: it answers only when asked again.
    const w = standIn(true);
    const asked: string[] = [];
    nc.subscribe(replaySubject, {
      callback: (_e, msg) => {
        const inboxes = new TextDecoder().decode(msg.data).split('\n');
        asked.push(...inboxes);
        for (const inbox of inboxes) nc.publish(inbox, new TextEncoder().encode('late answer'));
      },
    });
    await nc.flush();
    const t0 = Date.now();
    const answered = caller.call(w.subject, new Uint8Array(0), new HeaderBlock(), 5000);
    await new Promise((r) => setTimeout(r, 200)); // taken by then
    await own.reconnect();
    const msg = await answered;
    expect(new TextDecoder().decode(msg.data)).toBe('late answer');
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(asked).toHaveLength(1);
    expect(w.got).toHaveLength(1); // asked again, never sent again
    caller.close();
    await own.close();
  });

  it('on a reconnect, sends again at once a call not taken before the drop', async () => {
    const own = await connect({ servers: nats.url, reconnectTimeWait: 50, maxReconnectAttempts: -1 });
    const slow = { ...settings, ackTimeoutMs: 5000 };
    const caller = new Caller({ nc: own, liveness: alive(true), settings: slow });
    const w = standIn(false);
    await nc.flush();
    const failed = failure(caller.call(w.subject, new Uint8Array(0), new HeaderBlock(), 10_000));
    await new Promise((r) => setTimeout(r, 200));
    expect(w.got).toHaveLength(1);
    await own.reconnect();
    await new Promise((r) => setTimeout(r, 500));
    expect(w.got).toHaveLength(2); // not ackTimeoutMs (5 s) later
    caller.close();
    expect((await failed).code).toBe('NO_WORKER');
    await own.close();
  });
});
