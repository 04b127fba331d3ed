/**
 * Every benchmark scenario, run tiny: the JSON it writes has the right shape, and it leaves
 * nothing on the host. Not a measure of speed: only that the programs behind the README's
 * figures still run and report what they claim to.
 */
import { mkdtempSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTestResidue } from '@thaw/devkit';
import { type RuntimeOptions, scratchRuntimeOptions } from '@thaw/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BenchPlatform, openBenchPlatform } from '../src/platform.js';
import { runBurst } from '../src/scenarios/burst.js';
import { runCold } from '../src/scenarios/cold.js';
import { densityWorkerEnv, runDensity } from '../src/scenarios/density.js';
import { RUNTIME_OPS, runRuntime } from '../src/scenarios/runtime.js';
import { runWarm, warmWorkerEnv } from '../src/scenarios/warm.js';

const results = mkdtempSync(join(tmpdir(), 'loadtest-smoke-'));
afterAll(() => rm(results, { recursive: true, force: true }));

async function written(file: string): Promise<unknown> {
  return JSON.parse(await readFile(join(results, file), 'utf8'));
}

/** A p50/p99/n summary of `n` real samples. */
const summary = (n: number) => ({ p50_ms: expect.any(Number), p99_ms: expect.any(Number), n });
function expectOrdered(s: { p50_ms: number; p99_ms: number }): void {
  expect(s.p50_ms).toBeGreaterThan(0);
  expect(s.p99_ms).toBeGreaterThanOrEqual(s.p50_ms);
}

/** What this scratch runtime left: netns, links, mounts, cgroups, firewall chains, folders. */
function residueOf(rt: RuntimeOptions): string[] {
  const names = [rt.cgroupParent, rt.stateDir, rt.runDir, rt.bridge];
  return findTestResidue().filter((r) => names.some((n) => r.includes(n)));
}

/** True when nothing listens on the URL's port any more. */
function refused(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const sock = connect({ host: hostname, port: Number(port) });
    sock.once('connect', () => {
      sock.destroy();
      resolve(false);
    });
    sock.once('error', () => resolve(true));
  });
}

async function expectClosedAndClean(b: BenchPlatform): Promise<void> {
  await b.close();
  const { platform } = b;
  expect(platform.worker?.exitCode ?? platform.worker?.signalCode).not.toBeNull();
  expect(platform.gateway.exitCode ?? platform.gateway.signalCode).not.toBeNull();
  expect(await refused(platform.natsUrl)).toBe(true);
  expect(await refused(platform.redisUrl)).toBe(true);
  expect(residueOf(b.rt)).toEqual([]);
}

describe('runtime scenario', () => {
  it('writes a summary of every operation and removes its runtime', async () => {
    const rt = scratchRuntimeOptions('ltrt');
    const returned = await runRuntime(rt, { runs: 2, resultsDir: results });
    const out = (await written('runtime.json')) as typeof returned;
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

describe('warm scenario', () => {
  let b: BenchPlatform;
  beforeAll(async () => {
    b = await openBenchPlatform('ltwarm', warmWorkerEnv);
  });
  afterAll(() => b?.close());

  it('writes wrk figures for the gateway and direct paths at c1 and c32', async () => {
    const returned = await runWarm(b, { seconds: 1, resultsDir: results });
    const out = (await written('warm.json')) as typeof returned;
    expect(out).toEqual(returned);
    const figures = { p50_ms: expect.any(Number), p99_ms: expect.any(Number), rps: expect.any(Number) };
    expect(out).toEqual({ gateway: { c1: figures, c32: figures }, direct: { c1: figures, c32: figures } });
    for (const path of [out.gateway, out.direct]) {
      for (const f of [path.c1, path.c32]) {
        expectOrdered(f);
        expect(f.rps).toBeGreaterThan(0);
      }
    }
  }, 90_000);

  it('leaves nothing behind', () => expectClosedAndClean(b), 120_000);
});

describe('cold, burst and density scenarios on one platform', () => {
  let b: BenchPlatform;
  beforeAll(async () => {
    b = await openBenchPlatform('ltshared', densityWorkerEnv);
  });
  afterAll(() => b?.close());

  async function functionsLeft(): Promise<unknown[]> {
    const res = await b.platform.fetch(`${b.platform.gatewayUrl}/v1/functions`);
    return ((await res.json()) as { functions: unknown[] }).functions;
  }

  it('cold writes cold-start and next-call summaries for both images', async () => {
    const returned = await runCold(b, { runs: 2, resultsDir: results });
    const out = (await written('cold.json')) as typeof returned;
    expect(out).toEqual(returned);
    expect(out).toEqual({
      node: summary(2),
      busybox: summary(2),
      baseline_thaw: { node: summary(2), busybox: summary(2) },
    });
    for (const s of [out.node, out.busybox, out.baseline_thaw.node, out.baseline_thaw.busybox])
      expectOrdered(s);
    expect(await functionsLeft()).toEqual([]);
  }, 120_000);

  it('burst writes its load figures, the pool over time and a chart', async () => {
    const returned = await runBurst(b, { clients: 4, holdS: 2, idleTtlMs: 1000, resultsDir: results });
    const out = (await written('burst.json')) as typeof returned;
    expect(out).toEqual(returned);
    expect(out).toEqual({
      errors: 0,
      requests: expect.any(Number),
      p50_ms: expect.any(Number),
      p99_ms: expect.any(Number),
      ramp_s: expect.any(Number),
      max_instances: expect.any(Number),
      max_instances_at_s: expect.any(Number),
      all_running_at_s: expect.any(Number),
      steady_rps: expect.any(Number),
      ideal_rps: 80, // 4 clients / 50 ms
      handler_ms: 50,
      idle_ttl_s: 1,
      back_to_min_s_after_load: expect.any(Number),
      per_second: expect.any(Array),
      instances: expect.any(Array),
    });
    expectOrdered(out);
    // Every call ended within the load's seconds, so they are all counted once per second.
    expect(out.per_second.length).toBeGreaterThanOrEqual(3);
    expect(out.per_second.reduce((n, s) => n + s.rps, 0)).toBe(out.requests);
    expect(out.per_second.map((s) => s.t)).toEqual(out.per_second.map((_, i) => i));
    expect(out.steady_rps).toBeGreaterThan(0);
    expect(out.max_instances).toBeGreaterThanOrEqual(1);
    expect(out.max_instances).toBeLessThanOrEqual(4);
    expect(out.instances.length).toBeGreaterThan(0);
    expect(out.instances.at(-1)?.instances).toBe(0);
    const png = await readFile(join(results, 'burst.png'));
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(await functionsLeft()).toEqual([]);
  }, 120_000);

  it('density writes the frozen counts, memory each and idle CPU', async () => {
    const returned = await runDensity(b, {
      busybox: 2,
      node: 1,
      idleSeconds: 1,
      settleBeforeMs: 100,
      settleAfterMs: 100,
      resultsDir: results,
    });
    const out = (await written('density.json')) as typeof returned;
    expect(out).toEqual(returned);
    const fill = (instances: number) => ({
      instances,
      mib_per_instance: expect.any(Number),
      idle_cpu_pct: expect.any(Number),
      seconds_to_fill: expect.any(Number),
    });
    expect(out).toEqual({
      busybox: { instances: 2, mib_per_instance: expect.any(Number) },
      node: { instances: 1, mib_per_instance: expect.any(Number) },
      idle_cpu_pct: Math.max(out.detail.busybox.idle_cpu_pct, out.detail.node.idle_cpu_pct),
      detail: { busybox: fill(2), node: fill(1), baseline_idle_cpu_pct_no_instances: expect.any(Number) },
    });
    // Memory is the host's, shared with whatever else runs: its sign is not the scenario's to promise.
    for (const f of [out.detail.busybox, out.detail.node]) {
      expect(Number.isFinite(f.mib_per_instance)).toBe(true);
      expect(f.idle_cpu_pct).toBeGreaterThanOrEqual(0);
      expect(f.seconds_to_fill).toBeGreaterThanOrEqual(0);
    }
    expect(await functionsLeft()).toEqual([]);
  }, 120_000);

  it('leaves nothing behind', () => expectClosedAndClean(b), 120_000);
});
