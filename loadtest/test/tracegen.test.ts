import { describe, expect, it } from 'vitest';
import { generateTrace, rng, schedule, type TraceOptions } from '../src/tracegen.js';

const opts: TraceOptions = { seed: 12, functions: 1000, wallSeconds: 180, realMinutes: 120, maxWallRps: 4 };

describe('synthetic trace', () => {
  it('is the same for the same seed and differs for another', () => {
    expect(generateTrace(opts)).toEqual(generateTrace(opts));
    expect(generateTrace({ ...opts, seed: 13 }).functions).not.toEqual(generateTrace(opts).functions);
    const a = rng(1);
    const b = rng(1);
    expect([a(), a(), a()]).toEqual([b(), b(), b()]);
  });

  it('spreads the rates over several orders of magnitude, shaped like the Azure shares', () => {
    const { functions } = generateTrace(opts);
    const rates = functions.map((f) => f.realPerMinute);
    expect(Math.log10(Math.max(...rates) / Math.min(...rates))).toBeGreaterThan(5);
    const share = (p: (x: number) => boolean) => rates.filter(p).length / rates.length;
    // ATC'20: 45% at most once an hour, 81% at most once a minute (sampling noise allowed).
    expect(share((x) => x <= 1 / 60)).toBeGreaterThan(0.4);
    expect(share((x) => x <= 1 / 60)).toBeLessThan(0.5);
    expect(share((x) => x <= 1)).toBeGreaterThan(0.76);
    expect(share((x) => x <= 1)).toBeLessThan(0.86);
  });

  it('classes functions rare, frequent or hot by rate, some of the non-rare bursty', () => {
    const { functions } = generateTrace(opts);
    for (const f of functions) {
      if (f.rate === 'rare') expect(f.realPerMinute).toBeLessThanOrEqual(1);
      if (f.rate === 'hot') expect(f.realPerMinute).toBeGreaterThanOrEqual(10);
      if (f.bursty) expect(f.rate).not.toBe('rare');
    }
    const count = (p: (f: (typeof functions)[number]) => boolean) => functions.filter(p).length;
    expect(count((f) => f.rate === 'hot')).toBeGreaterThan(20);
    expect(count((f) => f.rate === 'hot')).toBeLessThan(120);
    const nonRare = count((f) => f.rate !== 'rare');
    expect(count((f) => f.bursty) / nonRare).toBeGreaterThan(0.2);
    expect(count((f) => f.bursty) / nonRare).toBeLessThan(0.4);
    expect(count((f) => f.image === 'node-hello') / functions.length).toBeGreaterThan(0.25);
    expect(count((f) => f.image === 'node-hello') / functions.length).toBeLessThan(0.35);
  });

  it('compresses real time into the wall seconds, each function under the wall-rate cap', () => {
    const t = generateTrace(opts);
    expect(t.compression).toBe(40);
    for (const f of t.functions) {
      expect(f.callsMs).toEqual([...f.callsMs].sort((a, b) => a - b));
      if (f.callsMs.length) expect(f.callsMs.at(-1)).toBeLessThan(180_000);
      expect(f.callsMs.length).toBeLessThanOrEqual(opts.maxWallRps * 180 * 1.5);
    }
    // A steady function's calls match its compressed mean rate (60 s real → 1.5 s wall here).
    const steady = t.functions.filter((f) => !f.bursty && f.realPerMinute * 40 < opts.maxWallRps * 60);
    const expected = steady.reduce((n, f) => n + (f.realPerMinute / 60) * 40 * 180, 0);
    const got = steady.reduce((n, f) => n + f.callsMs.length, 0);
    expect(got / expected).toBeGreaterThan(0.9);
    expect(got / expected).toBeLessThan(1.1);
  });

  it('schedules every call once, in time order', () => {
    const t = generateTrace({ ...opts, functions: 50 });
    const s = schedule(t);
    expect(s.length).toBe(t.functions.reduce((n, f) => n + f.callsMs.length, 0));
    for (let i = 1; i < s.length; i++) expect(s[i]?.atMs).toBeGreaterThanOrEqual(s[i - 1]?.atMs ?? 0);
  });
});
