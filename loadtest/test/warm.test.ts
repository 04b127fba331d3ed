/**
 * The warm scenario, run tiny on a platform of its own (it keeps its container thawed): the
 * JSON it writes has the right shape, and it leaves nothing on the host.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BenchPlatform, openBenchPlatform } from '../src/platform.js';
import { runWarm, warmWorkerEnv } from '../src/scenarios/warm.js';
import { expectClosedAndClean, expectOrdered, smokeResults } from './smoke.js';

const { dir: results, written } = smokeResults();

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
