/**
 * Every benchmark scenario, run tiny: the JSON it writes has the right shape, and it leaves
 * nothing on the host. Not a measure of speed: only that the programs behind the README's
 * figures still run and report what they claim to.
 */
import { scratchRuntimeOptions } from '@thaw/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PHASES } from '../src/phases.js';
import { type BenchPlatform, openBenchPlatform } from '../src/platform.js';
import { runBurst } from '../src/scenarios/burst.js';
import { runCold } from '../src/scenarios/cold.js';
import { densityWorkerEnv, runDensity } from '../src/scenarios/density.js';
import { RUNTIME_OPS, runRuntime } from '../src/scenarios/runtime.js';
import {
  expectChart,
  expectClosedAndClean,
  expectOrdered,
  residueOf,
  smokeResults,
  summary,
} from './smoke.js';

const { dir: results, written } = smokeResults();

describe('runtime scenario', () => {
  it('writes a summary of every operation and removes its runtime', async () => {
    const rt = scratchRuntimeOptions('ltrt');
    const returned = await runRuntime(rt, { runs: 2, resultsDir: results });
    const out = (await written('runtime.json')) as typeof returned;
    await expectChart(results, 'runtime');
    expect(out).toEqual(returned);
    // Two containers per image; the node-hello ones are each frozen and thawed once.
    expect(out).toEqual({
      create_ready_node: summary(2),
      create_ready_busybox: summary(2),
      warm_response: summary(2),
      freeze: summary(2),
      thaw: summary(2),
      thaw_first_response: summary(2),
      runc_pause: summary(2),
      runc_resume: summary(2),
      destroy: summary(4),
    });
    for (const op of RUNTIME_OPS) expectOrdered(out[op]);
    expect(residueOf(rt)).toEqual([]);
  }, 120_000);
});

describe('cold, burst and density scenarios on one platform', () => {
  let b: BenchPlatform;
  beforeAll(async () => {
    b = await openBenchPlatform('ltshared', densityWorkerEnv());
  });
  afterAll(() => b?.close());

  async function functionsLeft(): Promise<unknown[]> {
    const res = await b.platform.fetch(`${b.platform.gatewayUrl}/v1/functions`);
    return ((await res.json()) as { functions: unknown[] }).functions;
  }

  it('cold writes cold-start and next-call summaries for both images', async () => {
    const returned = await runCold(b, { runs: 2, resultsDir: results });
    const out = (await written('cold.json')) as typeof returned;
    await expectChart(results, 'cold');
    expect(out).toEqual(returned);
    const phases = Object.fromEntries(PHASES.map((p) => [p, expect.toBeOneOf([null, expect.any(Number)])]));
    expect(out).toEqual({
      node: summary(2),
      busybox: summary(2),
      baseline_thaw: { node: summary(2), busybox: summary(2) },
      cpu_ms_per_start: { node: out.phases.node.cpuMs, busybox: out.phases.busybox.cpuMs },
      phases: { node: phases, busybox: phases },
    });
    for (const s of [out.node, out.busybox, out.baseline_thaw.node, out.baseline_thaw.busybox])
      expectOrdered(s);
    // A phase the worker reports is a duration; the phases happen one after another within the start.
    for (const p of [out.phases.node, out.phases.busybox]) {
      for (const v of Object.values(p)) if (v !== null) expect(v).toBeGreaterThanOrEqual(0);
      if (p.totalMs !== null && p.appMs !== null) expect(p.appMs).toBeLessThanOrEqual(p.totalMs);
    }
    expect(await functionsLeft()).toEqual([]);
  }, 120_000);

  it("burst writes both bursts' load figures, the pool over time and a chart", async () => {
    const returned = await runBurst(b, { clients: 4, holdS: 2, gapS: 2, resultsDir: results });
    const out = (await written('burst.json')) as typeof returned;
    await expectChart(results, 'burst');
    expect(out).toEqual(returned);
    expect(out).toEqual({
      errors: 0,
      requests: expect.any(Number),
      p50_ms: expect.any(Number),
      p99_ms: expect.any(Number),
      // From zero on a busy 2-core host, a 2 s hold may end before the first starts are done.
      ramp_s: expect.toBeOneOf([null, expect.any(Number)]),
      max_instances: expect.any(Number),
      max_instances_at_s: expect.any(Number),
      all_running_at_s: expect.any(Number),
      steady_rps: expect.any(Number),
      ideal_rps: 80, // 4 clients / 50 ms
      handler_ms: 50,
      gap_s: 2,
      per_second: expect.any(Array),
      instances: expect.any(Array),
      second: {
        errors: 0,
        requests: expect.any(Number),
        p50_ms: expect.any(Number),
        p99_ms: expect.any(Number),
        ramp_s: expect.any(Number),
        steady_rps: expect.any(Number),
        cold_starts: expect.any(Number),
        instances_before: expect.any(Number),
        per_second: expect.any(Array),
      },
    });
    expectOrdered(out);
    expectOrdered(out.second);
    for (const burst of [out, out.second]) {
      // Every call ended within the load's seconds, so they are all counted once per second.
      expect(burst.per_second.length).toBeGreaterThanOrEqual(3);
      expect(burst.per_second.reduce((n, s) => n + s.rps, 0)).toBe(burst.requests);
      expect(burst.per_second.map((s) => s.t)).toEqual(burst.per_second.map((_, i) => i));
    }
    // The second burst finds the first one's instances: it serves from its first second.
    expect(out.second.steady_rps).toBeGreaterThan(0);
    expect(out.max_instances).toBeGreaterThanOrEqual(1);
    expect(out.max_instances).toBeLessThanOrEqual(4);
    // The first burst starts from zero; the gap removes nothing (no idle age, memory to spare).
    expect(out.instances[0]?.instances).toBe(0);
    expect(out.second.instances_before).toBeGreaterThanOrEqual(1);
    expect(out.second.cold_starts).toBeGreaterThanOrEqual(0);
    expect(out.instances.at(-1)?.t).toBeGreaterThan(2 + 2 + 2);
    expect(await functionsLeft()).toEqual([]);
  }, 120_000);

  it('density fills until it stops and writes the frozen counts, why it stopped, memory and idle CPU', async () => {
    const returned = await runDensity(b, {
      busybox: 3,
      node: 2,
      budgetMiB: 4096,
      maxSeconds: 60,
      stallSeconds: 30,
      idleSeconds: 1,
      settleBeforeMs: 100,
      settleAfterMs: 100,
      resultsDir: results,
    });
    const out = (await written('density.json')) as typeof returned;
    await expectChart(results, 'density');
    expect(out).toEqual(returned);
    const fill = (instances: number) => ({
      instances,
      mib_per_instance: expect.any(Number),
      cgroup_mib_per_instance: expect.any(Number),
      idle_cpu_pct: expect.any(Number),
      seconds_to_fill: expect.any(Number),
      stopped_by: 'cap',
      charged_mib: expect.toBeOneOf([null, expect.any(Number)]),
      mem_available_mib: expect.any(Number),
      tasks: expect.any(Number),
      pid_max: expect.any(Number),
      starts_by_result: { ok: instances },
    });
    // The caps stop this tiny run well before the budget: every instance asked for is frozen.
    expect(out).toEqual({
      busybox: { instances: 3, mib_per_instance: expect.any(Number), stopped_by: 'cap' },
      node: { instances: 2, mib_per_instance: expect.any(Number), stopped_by: 'cap' },
      idle_cpu_pct: Math.max(out.detail.busybox.idle_cpu_pct, out.detail.node.idle_cpu_pct),
      budget_mib: 4096,
      detail: { busybox: fill(3), node: fill(2), baseline_idle_cpu_pct_no_instances: expect.any(Number) },
    });
    // Memory is the host's, shared with whatever else runs: its sign is not the scenario's to promise.
    for (const f of [out.detail.busybox, out.detail.node]) {
      expect(Number.isFinite(f.mib_per_instance)).toBe(true);
      expect(f.idle_cpu_pct).toBeGreaterThanOrEqual(0);
      expect(f.seconds_to_fill).toBeGreaterThanOrEqual(0);
      expect(f.cgroup_mib_per_instance).toBeGreaterThan(0);
      expect(f.tasks).toBeGreaterThan(0);
      expect(f.tasks).toBeLessThanOrEqual(f.pid_max);
    }
    expect(await functionsLeft()).toEqual([]);
  }, 180_000);

  it('leaves nothing behind', () => expectClosedAndClean(b), 120_000);
});
