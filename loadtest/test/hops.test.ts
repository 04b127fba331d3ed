/**
 * The hops scenario, run tiny: the JSON it writes has every chain with its hop count, both
 * spacings summarized, the per-hop figure consistent with them, and no relay process is left.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runHops } from '../src/scenarios/hops.js';
import { expectChart, expectOrdered, smokeResults, summary } from './smoke.js';

const { dir: results, written } = smokeResults();
const CALLS = 5;

/** Relay processes alive now (the scenario's children run hop-relay.js). */
function relays(): string[] {
  try {
    return execFileSync('pgrep', ['-f', 'hop-relay.js'], { encoding: 'utf8' }).trim().split('\n');
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

describe('hops scenario', () => {
  it('measures each chain idle and busy, writes hops.json, and stops its relays', async () => {
    const returned = await runHops({ calls: CALLS, spacingMs: 30, chains: [1, 2], resultsDir: results });
    const out = (await written('hops.json')) as typeof returned;
    await expectChart(results, 'hops');
    expect(out).toEqual(returned);
    expect(out.spacing_ms).toBe(30);
    expect(out.chains.map((c) => [c.processes, c.hops])).toEqual([
      [1, 2],
      [2, 4],
    ]);
    for (const c of out.chains) {
      expect(c.idle).toEqual(summary(CALLS));
      expect(c.busy).toEqual(summary(CALLS));
      expectOrdered(c.idle);
      expectOrdered(c.busy);
      expect(c.idle_ms_per_hop).toBeCloseTo(c.idle.p50_ms / c.hops, 2);
    }
    expect(relays()).toEqual([]);
  });
});
