import type { StoredImage } from '@thaw/runtime';
import { FunctionRecord, type PlaceRequest, ThawError } from '@thaw/shared';
import type { Subscription } from 'nats';
import { describe, expect, it } from 'vitest';
import type { FunctionHost } from '../../src/pool/function-host.js';
import { FunctionTable } from '../../src/service/functions.js';
import { Placements } from '../../src/service/placements.js';
import { silentLog } from '../pool/fakes.js';

const digest = `sha256:${'a'.repeat(64)}`;

function request(revision: number): PlaceRequest {
  const now = new Date().toISOString();
  const fn = FunctionRecord.parse({
    name: 'f',
    image: digest,
    imageDigest: digest,
    revision,
    createdAt: now,
    updatedAt: now,
  });
  return { fn, image: { kind: 'registry', reference: 'example.org/f:1' } } as PlaceRequest;
}

/** A pool that warms when told to (or fails), and records being drained and closed. */
class FakeHost {
  closed = false;
  drained = false;
  private warmed: { resolve: () => void; reject: (e: Error) => void } | undefined;
  constructor(readonly fn: FunctionRecord) {}
  warm(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.warmed = { resolve, reject };
    });
  }
  finishWarm(err?: Error): void {
    if (err) this.warmed?.reject(err);
    else this.warmed?.resolve();
  }
  async drain(): Promise<void> {
    this.drained = true;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

function setup() {
  const table = new FunctionTable();
  const hosts: FakeHost[] = [];
  const subscribed: string[] = [];
  const unsubscribed: string[] = [];
  const dropped: string[] = [];
  const placements = new Placements({
    table,
    images: { ensure: async () => ({ digest }) as unknown as StoredImage },
    newHost: (fn) => {
      const h = new FakeHost(fn);
      hosts.push(h);
      return h as unknown as FunctionHost;
    },
    subscribe: (entry) => {
      subscribed.push(`${entry.fn.name}@${entry.fn.revision}`);
      return { unsubscribe: () => unsubscribed.push(entry.fn.name) } as unknown as Subscription;
    },
    dropped: (name) => dropped.push(name),
    log: silentLog,
  });
  /** Waits until the n-th host exists (image fetch and host creation are asynchronous). */
  const host = async (n: number) => {
    for (let i = 0; i < 50 && !hosts[n]; i++) await Promise.resolve();
    const h = hosts[n];
    if (!h) throw new Error(`no host #${n}`);
    return h;
  };
  return { table, placements, hosts, host, subscribed, unsubscribed, dropped };
}

describe('Placements', () => {
  it('places once: warm first, then subscribe; placing again the same revision shares the first', async () => {
    const { placements, host, subscribed, table } = setup();
    const first = placements.place(request(1));
    const again = placements.place(request(1));
    (await host(0)).finishWarm();
    expect(await first).toBe(digest);
    expect(await again).toBe(digest);
    expect(subscribed).toEqual(['f@1']);
    expect(table.functions().map((f) => f.revision)).toEqual([1]);
  });

  it('forgets a function whose first pool fails to warm', async () => {
    const { placements, host, table } = setup();
    const placing = placements.place(request(1));
    const h = await host(0);
    h.finishWarm(new ThawError('FUNCTION_START_FAILED', 'no'));
    await expect(placing).rejects.toMatchObject({ code: 'FUNCTION_START_FAILED' });
    expect(table.has('f')).toBe(false);
    expect(h.closed).toBe(true);
  });

  it('rolls to a newer revision: the new pool serves once warm, the old one drains and closes', async () => {
    const { placements, host, table } = setup();
    const first = placements.place(request(1));
    (await host(0)).finishWarm();
    await first;
    const rolling = placements.place(request(2));
    const next = await host(1);
    expect(table.get('f')?.host).toBe(await host(0)); // the old one serves meanwhile
    next.finishWarm();
    await rolling;
    expect(table.get('f')?.host).toBe(next);
    const old = await host(0);
    for (let i = 0; i < 20 && table.get('f')?.retiring.size; i++) await Promise.resolve();
    expect([old.drained, old.closed]).toEqual([true, true]);
    expect(table.get('f')?.retiring.size).toBe(0);
  });

  it('keeps the old revision when the new one fails to start', async () => {
    const { placements, host, table } = setup();
    const first = placements.place(request(1));
    (await host(0)).finishWarm();
    await first;
    const rolling = placements.place(request(2));
    const next = await host(1);
    next.finishWarm(new ThawError('FUNCTION_START_FAILED', 'bad revision'));
    await expect(rolling).rejects.toMatchObject({ code: 'FUNCTION_START_FAILED' });
    expect(next.closed).toBe(true);
    expect(table.get('f')?.host).toBe(await host(0));
    expect(table.get('f')?.fn.revision).toBe(1);
  });

  it('drops a function: unsubscribed, every pool closed, told', async () => {
    const { placements, host, unsubscribed, dropped, table } = setup();
    const first = placements.place(request(1));
    const h = await host(0);
    h.finishWarm();
    await first;
    await placements.drop('f');
    expect(table.has('f')).toBe(false);
    expect(unsubscribed).toContain('f');
    expect(h.closed).toBe(true);
    expect(dropped).toEqual(['f']);
  });
});
