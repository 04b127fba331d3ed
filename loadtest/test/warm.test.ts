/**
 * The warm scenario, run tiny on a platform of its own (it keeps its container thawed): the
 * JSON it writes has the right shape, and it leaves nothing on the host.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BenchPlatform, openBenchPlatform } from '../src/platform.js';
import { runWarm, warmWorkerEnv } from '../src/scenarios/warm.js';
import { expectChart, expectClosedAndClean, expectOrdered, smokeResults } from './smoke.js';

const { dir: results, written } = smokeResults();

describe('warm scenario', () => {
  let b: BenchPlatform;
  beforeAll(async () => {
    b = await openBenchPlatform('ltwarm', warmWorkerEnv);
  });
  afterAll(() => b?.close());

  it('writes wrk figures, errors counted, for the gateway and direct paths at c1, c32 and c128', async () => {
    const returned = await runWarm(b, { seconds: 1, resultsDir: results });
    const out = (await written('warm.json')) as typeof returned;
    await expectChart(results, 'warm');
    expect(out).toEqual(returned);
    const figures = {
      p50_ms: expect.any(Number),
      p99_ms: expect.any(Number),
      rps: expect.any(Number),
      errors: expect.any(Number),
    };
    const levels = { c1: figures, c32: figures, c128: figures };
    expect(out).toEqual({ gateway: levels, direct: levels });
    for (const path of [out.gateway, out.direct]) {
      for (const f of [path.c1, path.c32, path.c128]) {
        expectOrdered(f);
        expect(f.rps).toBeGreaterThan(0);
        // A host with room: 128 callers are served, none refused.
        expect(f.errors).toBe(0);
      }
    }
  }, 90_000);

  it('leaves nothing behind', () => expectClosedAndClean(b), 120_000);
});
