import { describe, expect, it } from 'vitest';
import { type FunctionView, phaseMedians, startOf } from '../src/phases.js';

describe('cold start phases', () => {
  it('takes the median of each phase over the starts that report it', () => {
    const m = phaseMedians([
      { imageMs: 0.1, rootfsMs: 4, networkMs: 10, runtimeMs: 30, appMs: 50, totalMs: 95, cpuMs: 40 },
      { imageMs: 0.3, rootfsMs: 6, networkMs: 12, runtimeMs: 34, appMs: 60, totalMs: 113 },
      null,
      { imageMs: 0.2, rootfsMs: 5, networkMs: 11, runtimeMs: 32, appMs: 55, totalMs: 104, cpuMs: 50 },
    ]);
    expect(m).toEqual({
      imageMs: 0.2,
      rootfsMs: 5,
      networkMs: 11,
      runtimeMs: 32,
      appMs: 55,
      totalMs: 104,
      cpuMs: 45,
    });
  });
  it('is null for a phase no start reports', () => {
    expect(phaseMedians([null, {}])).toEqual({
      imageMs: null,
      rootfsMs: null,
      networkMs: null,
      runtimeMs: null,
      appMs: null,
      totalMs: null,
      cpuMs: null,
    });
  });
  it("waits for a heartbeat to carry the instance's start, and gives up in time", async () => {
    const views: FunctionView[] = [
      { workers: [{ starting: 1, instances: [] }] },
      { workers: [{ starting: 0, instances: [{ state: 'running' }] }] },
      { workers: [{ starting: 0, instances: [{ state: 'frozen', start: { totalMs: 90 } }] }] },
    ];
    let i = 0;
    expect(await startOf(async () => views[Math.min(i++, 2)] as FunctionView, 2000)).toEqual({ totalMs: 90 });
    expect(i).toBe(3);
    const t0 = Date.now();
    expect(await startOf(async () => views[1] as FunctionView, 300)).toBeNull();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
  });
});
