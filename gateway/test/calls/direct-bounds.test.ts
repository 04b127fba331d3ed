/**
 * What a direct link is allowed to hold (calls/link.ts, caller.ts, invoker.ts), on a real
 * nats-server with stand-in workers: a call settled over NATS leaves its link's count, a link
 * whose worker stops reading takes no more calls past its buffer bound, and the retry after
 * OVERLOADED goes over NATS to the worker just placed.
 */
import { encodeInvokeReply, FunctionRecord, HeaderBlock } from '@thaw/shared';
import { describe, expect, it } from 'vitest';
import { Invoker } from '../../src/calls/invoker.js';
import { AT_ONCE_MS, settings, useDirectRig } from './direct-rig.js';
import { sleep, text, until } from './direct-stand-in.js';

const rig = useDirectRig('db');

describe('a direct link, bounded', () => {
  it('drops from its link the id of a call a silent link never took, once NATS answered its resend', async () => {
    const { w, onNats, c, call } = await rig.oneLink(); // reads calls, never writes one
    expect(text((await call()).data)).toBe('from nats');
    expect(w.calls).toHaveLength(1);
    expect(onNats.got).toHaveLength(1);
    expect(c.linkLoad('w1')).toBe(0); // not counted against w1 for ever
  });

  it('sends calls over NATS once the link holds more than bufferMax unwritten (its worker stopped reading)', async () => {
    const bufferMax = 1024 * 1024;
    const { w, c, call } = await rig.oneLink({
      worker: { stopReading: true },
      // Calls on the link wait unanswered for the whole test, not resent.
      caller: { settings: { ...settings, ackTimeoutMs: 60_000 }, linkSettings: { bufferMax } },
    });
    const pending: Promise<unknown>[] = [call('small', 60_000).catch(() => undefined)];
    await until(() => w.connections === 1, 2000, 'the link');
    await sleep(50); // connected: from here what the kernel does not take waits in the gateway
    const body = 'x'.repeat(256 * 1024);
    // Far more than the kernel's buffers on both ends hold: the rest stays in the gateway.
    for (let i = 0; i < 100 && c.sends.nats === 0; i++) {
      pending.push(call(body, 60_000).catch(() => undefined));
      await new Promise((r) => setImmediate(r)); // each send in its own turn, as calls come
    }
    expect(c.sends.nats).toBe(1);
    expect(c.sends.direct).toBeGreaterThan(4); // 1 MiB past what the kernel took
    const t0 = Date.now();
    expect(text((await call()).data)).toBe('from nats');
    expect(Date.now() - t0).toBeLessThan(AT_ONCE_MS);
    expect(w.connections).toBe(1);
  });

  it('resends over NATS, not on a link, the call a worker refused OVERLOADED once another worker was placed', async () => {
    const {
      subj,
      fn: name,
      w,
      onNats,
      c,
    } = await rig.oneLink({
      onCall: (call, self) => {
        const h = new HeaderBlock();
        const data = encodeInvokeReply({ ok: false, code: 'OVERLOADED', message: 'full' }, h);
        self.accept(call);
        self.reply(call, Buffer.from(data).toString(), h);
      },
    });
    const fn = FunctionRecord.parse({ name, image: 'example.com/x:1', createdAt: 'now', updatedAt: 'now' });
    let relieved = 0;
    const placer = {
      placeCurrent: async () => fn,
      // Another worker placed: it subscribed over NATS; its heartbeat has not come yet.
      relieve: async () => ++relieved === 1,
      spread: () => undefined,
    };
    const invoker = new Invoker({ caller: c, placer, subjects: subj });
    const env = { method: 'GET', path: '/', query: '', headers: {}, body: Buffer.alloc(0) };
    const answer = await invoker.invoke(fn, env);
    expect(answer.body.toString()).toBe('from nats');
    expect(relieved).toBe(1);
    expect(w.calls).toHaveLength(1);
    expect(onNats.got).toHaveLength(1);
    expect(c.sends).toEqual({ direct: 1, nats: 1 });
  });
});
