/**
 * The sparse scenario, run tiny on a platform of its own: the JSON it writes has the right
 * shape, every call of every path answered, the gateway's per-phase timing came back, and neither the platform nor the direct baseline's
 * runtime leaves anything on the host.
 */
import { scratchRuntimeOptions } from '@thaw/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BenchPlatform, openBenchPlatform } from '../src/platform.js';
import { runSparse } from '../src/scenarios/sparse.js';
import {
  expectChart,
  expectClosedAndClean,
  expectOrdered,
  residueOf,
  smokeResults,
  summary,
} from './smoke.js';

const { dir: results, written } = smokeResults();
const directRt = scratchRuntimeOptions('ltsparsed');
const CALLS = 4;

describe('sparse scenario', () => {
  let b: BenchPlatform;
  beforeAll(async () => {
    // The gateway and worker the platform spawns inherit this process's environment.
    process.env.THAW_TIMINGS = '1';
    try {
      b = await openBenchPlatform('ltsparse');
    } finally {
      delete process.env.THAW_TIMINGS;
    }
  });
  afterAll(() => b?.close());

  it('writes p50/p99 and errors for the gateway, direct and healthz paths', async () => {
    const returned = await runSparse(b, { calls: CALLS, spacingMs: 150, resultsDir: results }, directRt);
    const out = (await written('sparse.json')) as typeof returned;
    await expectChart(results, 'sparse');
    expect(out).toEqual(returned);
    const path = { ...summary(CALLS), errors: 0 };
    expect(out).toEqual({ gateway: path, direct: path, healthz: path, gateway_phases: expect.any(Object) });
    for (const s of [out.gateway, out.direct, out.healthz]) expectOrdered(s);
    // The gateway ran with THAW_TIMINGS=1: every phase of its calls, worker side included.
    const phases = [
      'gateway-in',
      'to-worker',
      'admit-thaw',
      'container',
      'worker-out',
      'to-gateway',
      'total',
    ];
    expect(Object.keys(out.gateway_phases ?? {}).sort()).toEqual([...phases].sort());
    expect(out.gateway_phases?.total).toBeGreaterThan(out.gateway_phases?.container ?? Infinity);
    expect(residueOf(directRt)).toEqual([]);
  }, 120_000);

  it('leaves nothing behind', () => expectClosedAndClean(b), 120_000);
});
