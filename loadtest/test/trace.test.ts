/**
 * The trace scenario, run tiny (4 functions, 5 s, each policy on a platform of its own): the
 * JSON it writes has the right shape, the counts add up, and each run leaves nothing behind.
 */
import { describe, expect, it } from 'vitest';
import { type BenchPlatform, openBenchPlatform } from '../src/platform.js';
import { keepAliveMs, runTrace, type TraceSettings } from '../src/scenarios/trace.js';
import { generateTrace, schedule } from '../src/tracegen.js';
import { expectChart, expectClosedAndClean, smokeResults } from './smoke.js';

const { dir: results, written } = smokeResults();

describe('trace scenario', () => {
  it('plays the trace under both policies, writes trace.json and leaves nothing behind', async () => {
    const s: TraceSettings = {
      seed: 7,
      functions: 4,
      wallSeconds: 5,
      realMinutes: 60,
      keepAliveRealMinutes: 10,
      memoryMiB: 1024,
      maxWallRps: 2,
      quietSeconds: 1,
      resultsDir: results,
    };
    const platforms: BenchPlatform[] = [];
    const returned = await runTrace(s, async (policy, env, run) => {
      const b = await openBenchPlatform(`lttr${policy}`, env);
      platforms.push(b);
      try {
        return await run(b);
      } finally {
        await expectClosedAndClean(b);
      }
    });
    expect(platforms).toHaveLength(2);
    const out = (await written('trace.json')) as typeof returned;
    await expectChart(results, 'trace');
    expect(out).toEqual(returned);
    const figures = {
      cold_pct: expect.any(Number),
      p50_ms: expect.any(Number),
      p99_ms: expect.any(Number),
      idle_cpu_pct: expect.any(Number),
      mem_mib: expect.any(Number),
    };
    expect(out.thaw).toEqual(figures);
    expect(out.fixed).toEqual(figures);
    const calls = schedule(generateTrace({ ...s, maxWallRps: s.maxWallRps })).length;
    expect(calls).toBeGreaterThan(0);
    for (const d of [out.detail.thaw, out.detail.fixed]) {
      expect(d.calls).toBe(calls);
      expect(d.errors).toBe(0);
      expect(d.errors_by_status).toEqual({});
      // Every call reached the worker once; the gateway retries nothing here.
      expect(d.invocations).toBe(calls);
      expect(d.cold_starts).toBeLessThanOrEqual(calls);
      expect(d.starts_by_reason.request ?? 0).toBe(d.cold_starts);
      expect(d.starts_by_result.ok ?? 0).toBeGreaterThanOrEqual(d.cold_starts);
    }
    expect(out.detail.keep_alive_ms).toBe(keepAliveMs(s));
    expect(out.detail.compression).toBe(720);
  }, 240_000);
});
