import { describe, expect, it } from 'vitest';
import {
  BINS,
  binOf,
  FIRST_BIN,
  lowerEdge,
  MAX_MS,
  MIN_MS,
  quantile,
  SLOTS,
} from '../../src/stats/histogram.js';
import { shape, window } from '../../src/stats/query.js';
import { CallRecorder, type StatsClock } from '../../src/stats/recorder.js';
import { Unflushed } from '../../src/stats/unflushed.js';

/** A clock the test moves: `mono` for latencies, `wall` for buckets. */
function fakeClock(wall: number): StatsClock & { advance(ms: number): void } {
  let mono = 1000;
  let w = wall;
  return {
    now: () => mono,
    wall: () => w,
    advance(ms) {
      mono += ms;
      w += ms;
    },
  };
}

const T0 = Date.parse('2026-01-01T00:00:00.000Z');

describe('the latency histogram', () => {
  it('has 1.25x bins from 0.05 ms to 60 s, clamping what falls outside', () => {
    expect(BINS).toBe(63);
    expect(binOf(0)).toBe(0);
    expect(binOf(MIN_MS / 2)).toBe(0);
    expect(binOf(0.0624)).toBe(0);
    expect(binOf(0.0626)).toBe(1);
    expect(binOf(MAX_MS * 10)).toBe(BINS - 1);
    for (const ms of [0.3, 1, 7.5, 42, 900, 12_000]) {
      const b = binOf(ms);
      expect(lowerEdge(b)).toBeLessThanOrEqual(ms);
      expect(lowerEdge(b + 1)).toBeGreaterThan(ms);
    }
  });

  it('answers quantiles within a bin (≤ 12%) and null when empty', () => {
    const h = new Float64Array(BINS);
    expect(quantile(h, 0.5)).toBeNull();
    // 98 calls at 10 ms, 2 at 500 ms: p50 ≈ 10, p99 ≈ 500.
    h[binOf(10)] = 98;
    h[binOf(500)] = 2;
    const p50 = quantile(h, 0.5) ?? 0;
    const p99 = quantile(h, 0.99) ?? 0;
    expect(Math.abs(p50 - 10) / 10).toBeLessThan(0.12);
    expect(Math.abs(p99 - 500) / 500).toBeLessThan(0.12);
    expect(quantile(h, 0.98)).toBe(p50);
  });

  it('merges across gateways by adding counts', () => {
    const a = new Float64Array(BINS);
    const b = new Float64Array(BINS);
    for (let i = 0; i < 60; i++) a[binOf(2)] = (a[binOf(2)] ?? 0) + 1;
    for (let i = 0; i < 40; i++) b[binOf(200)] = (b[binOf(200)] ?? 0) + 1;
    const sum = a.map((n, i) => n + (b[i] ?? 0));
    expect(quantile(sum, 0.5)).toBe(quantile(a, 0.5));
    expect(quantile(sum, 0.99)).toBe(quantile(b, 0.5));
  });
});

describe('the call recorder', () => {
  it('counts calls, errors, cold starts and latency per function per 10 s bucket', () => {
    const clock = fakeClock(T0 + 7000);
    const r = new CallRecorder({ clock, bucketMs: 10_000 });
    let s = r.start();
    clock.advance(20);
    r.record('a', s, false, true);
    s = r.start();
    clock.advance(2);
    r.record('a', s, true, false);
    r.record('b', r.start(), false, false);
    // 3 s later: the next bucket (T0+10 s), found without reading the wall clock per call.
    clock.advance(3000);
    s = r.start();
    clock.advance(5);
    r.record('a', s, false, false);
    const p = r.take();
    expect([...p.keys()]).toEqual([T0, T0 + 10_000]);
    const first = p.get(T0)?.get('a');
    expect(first?.slice(0, 3)).toEqual(new Float64Array([2, 1, 1]));
    expect(first?.[FIRST_BIN + binOf(20)]).toBe(1);
    expect(first?.[FIRST_BIN + binOf(2)]).toBe(1);
    expect(p.get(T0)?.get('b')?.[0]).toBe(1);
    expect(
      p
        .get(T0 + 10_000)
        ?.get('a')
        ?.slice(0, 3),
    ).toEqual(new Float64Array([1, 0, 0]));
    expect(r.take().size).toBe(0);
  });

  it('keeps failed batches whole with their ids, oldest first, and drops buckets past keepMs', () => {
    const clock = fakeClock(T0);
    const r = new CallRecorder({ clock, bucketMs: 10_000 });
    const u = new Unflushed({ wall: () => clock.wall(), keepMs: 60_000 });
    r.record('a', r.start(), false, false);
    u.add(r.take());
    clock.advance(30_000);
    r.record('a', r.start(), false, false);
    r.record('a', r.start(), false, false);
    u.add(r.take());
    u.add(r.take());
    expect(u.size).toBe(2);
    const first = u.first();
    expect(first?.pending.get(T0)?.get('a')?.[0]).toBe(1);
    expect(u.trim()).toBe(0);
    clock.advance(31_000);
    expect(u.trim()).toBe(1);
    expect(u.size).toBe(1);
    const second = u.first();
    expect(second?.id).not.toBe(first?.id);
    // Not merged into the first: the second batch holds its own two calls alone.
    expect(second?.pending.get(T0 + 30_000)?.get('a')?.[0]).toBe(2);
    clock.advance(30_000);
    expect(u.trim()).toBe(2);
    expect(u.dropped).toBe(3);
    expect(u.size).toBe(0);
  });
});

describe('the stats answer', () => {
  it('lists every bucket from the one since falls in to the open one, zeros and nulls when no call', () => {
    const now = T0 + 35_000;
    const { from, last } = window(T0 + 4000, now, 10_000);
    expect([from, last]).toEqual([T0, T0 + 30_000]);
    const c = new Float64Array(SLOTS);
    c[0] = 20;
    c[1] = 2;
    c[2] = 1;
    c[FIRST_BIN + binOf(3)] = 20;
    const out = shape({
      series: new Map([['a', [c, undefined, undefined, c]]]),
      from,
      now,
      bucketMs: 10_000,
    });
    expect(out.bucketSeconds).toBe(10);
    expect(out.from).toBe('2026-01-01T00:00:00.000Z');
    expect(out.to).toBe('2026-01-01T00:00:35.000Z');
    const a = out.functions.a ?? [];
    expect(a.map((p) => p.t)).toEqual([0, 10, 20, 30].map((s) => new Date(T0 + s * 1000).toISOString()));
    expect(a[0]).toMatchObject({ calls: 20, errors: 2, cold: 1, ratePerSec: 2 });
    expect(a[0]?.p50Ms).toBe(a[0]?.p99Ms);
    expect(Math.abs((a[0]?.p50Ms ?? 0) - 3) / 3).toBeLessThan(0.12);
    expect(a[1]).toMatchObject({ calls: 0, errors: 0, cold: 0, ratePerSec: 0, p50Ms: null, p99Ms: null });
    // The open bucket has run 5 s: its rate is over those.
    expect(a[3]?.ratePerSec).toBe(4);
  });
});
