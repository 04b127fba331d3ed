import { describe, expect, it } from 'vitest';
import { Autoscaler, type AutoscalerConfig } from '../../src/pool/autoscaler.js';

const cfg: AutoscalerConfig = {
  targetPerInstance: 1,
  stableWindowMs: 60_000,
  panicWindowMs: 6_000,
  panicThreshold: 2,
  minInstances: 0,
  maxInstances: 50,
};

/** Feeds a trace (one sample a second) and returns the decisions, tracking `current` = desired. */
function run(a: Autoscaler, trace: number[], start = 0, current = 0) {
  const out: { t: number; desired: number; panic: boolean }[] = [];
  let cur = current;
  trace.forEach((c, i) => {
    const t = start + (i + 1) * 1000;
    a.record(t, c);
    const d = a.decide(t, cur);
    cur = d.desired;
    out.push({ t, desired: d.desired, panic: d.panic });
  });
  return out;
}

describe('autoscaler', () => {
  it('forgets the demand and the panic it saw when reset (a scale to zero on request)', () => {
    const a = new Autoscaler(cfg);
    expect(run(a, [8, 8]).at(-1)).toMatchObject({ desired: 8, panic: true });
    a.reset();
    expect(run(a, [0], 2000).at(-1)).toEqual({ t: 3000, desired: 0, panic: false });
  });

  it('holds steady load at load / target', () => {
    const a = new Autoscaler({ ...cfg, targetPerInstance: 0.7 });
    const out = run(a, Array(120).fill(7), 0, 10);
    expect(out.at(-1)?.desired).toBe(10);
    expect(out.at(-1)?.panic).toBe(false);
  });

  it('panics on a burst from zero and follows the panic window at once', () => {
    const a = new Autoscaler(cfg);
    const out = run(a, [...Array(10).fill(0), ...Array(5).fill(40)]);
    const firstBurst = out[10];
    expect(firstBurst?.panic).toBe(true);
    // The 6 s panic window average after one second of 40 in flight is 40/6 → 7 instances.
    expect(firstBurst?.desired).toBe(7);
    expect(out.at(-1)?.desired).toBe(34);
  });

  it('does not scale down while panicking, then settles on the stable average', () => {
    const a = new Autoscaler(cfg);
    const burst = [...Array(10).fill(64), ...Array(20).fill(4)];
    const out = run(a, burst, 0, 1);
    const peak = Math.max(...out.map((o) => o.desired));
    // After the burst the panic window falls, but desired holds at the peak while in panic.
    expect(out.slice(10).every((o) => o.desired === peak)).toBe(true);
    const later = run(a, Array(90).fill(4), 30_000, peak);
    expect(later.at(-1)).toMatchObject({ desired: 4, panic: false });
  });

  it('scales to zero after a stable window without traffic, and not before', () => {
    const a = new Autoscaler(cfg);
    run(a, Array(30).fill(3), 0, 3);
    const idle = run(a, Array(61).fill(0), 30_000, 3);
    expect(idle[30]?.desired).toBeGreaterThan(0);
    expect(idle.at(-1)?.desired).toBe(0);
  });

  it('clamps to min and max', () => {
    const a = new Autoscaler({ ...cfg, minInstances: 2, maxInstances: 5 });
    expect(run(a, Array(70).fill(0), 0, 2).at(-1)?.desired).toBe(2);
    expect(run(a, Array(10).fill(100), 70_000, 2).at(-1)?.desired).toBe(5);
  });
});
