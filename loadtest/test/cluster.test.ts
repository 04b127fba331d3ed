/**
 * The cluster scenario: its loss figures worked out by hand from made-up outcomes, and a tiny
 * run (1 s loads) on a real 3-node NATS cluster, Redis behind Sentinel and 3 worker hosts: the
 * JSON's shape, and nothing left on the host.
 */
import { findTestResidue } from '@thaw/devkit';
import { describe, expect, it } from 'vitest';
import { type ClientRun, clientRecoveredAt, lossFigures, recoverMs } from '../src/cluster-figures.js';
import { type ClusterResult, runCluster } from '../src/scenarios/cluster.js';
import { expectChart, smokeResults } from './smoke.js';

const KILL = 10_000;
const ok = (start: number, end: number) => ({ status: 200, start, end });
const bad = (start: number, end: number, code: string) => ({ status: 502, start, end, code });

describe('loss figures', () => {
  const steady: ClientRun = { name: 'a', outcomes: [ok(9990, 10_001), ok(10_001, 10_004)] };
  const failed: ClientRun = {
    name: 'b',
    outcomes: [
      ok(9900, 9950),
      bad(9950, 10_800, 'WORKER_LOST'),
      bad(10_800, 11_000, 'NO_WORKER'),
      ok(11_000, 11_020),
    ],
  };
  const stalled: ClientRun = { name: 'c', outcomes: [ok(9995, 12_500), ok(12_500, 12_510)] };

  it('a client is back at its first success sent after the kill and after its last failure', () => {
    // Its call in flight at the kill succeeded: sent before the kill, so the next one counts.
    expect(clientRecoveredAt(steady, KILL)).toBe(10_004);
    expect(clientRecoveredAt(failed, KILL)).toBe(11_020);
    // Held up 2.5 s by one call, which ended well: the stall is the outage.
    expect(clientRecoveredAt(stalled, KILL)).toBe(12_510);
    // A success between failures is not recovery yet: the last failure is the outage's end.
    const flapping: ClientRun = {
      name: 'f',
      outcomes: [
        bad(9990, 10_100, 'WORKER_LOST'),
        ok(10_100, 10_110),
        bad(10_110, 10_400, 'NO_WORKER'),
        ok(10_400, 10_420),
      ],
    };
    expect(clientRecoveredAt(flapping, KILL)).toBe(10_420);
    expect(
      clientRecoveredAt({ name: 'd', outcomes: [bad(9990, 10_100, 'WORKER_LOST')] }, KILL),
    ).toBeUndefined();
  });

  it('recovery is the last client back; null while one is not', () => {
    expect(recoverMs([steady, failed, stalled], KILL)).toBe(2510);
    expect(recoverMs([steady, { name: 'd', outcomes: [] }], KILL)).toBeNull();
  });

  it('counts the failures answered after the kill, by code, and the detection time', () => {
    const before: ClientRun = {
      name: 'e',
      outcomes: [bad(9000, 9500, 'OVERLOADED'), ok(9500, 10_002), ok(10_002, 10_010)],
    };
    expect(lossFigures([steady, failed, before], { killedAt: KILL, detectedAt: 10_300 })).toEqual({
      detect_ms: 300,
      recover_ms: 1020,
      failed: 2,
      codes: { WORKER_LOST: 1, NO_WORKER: 1 },
      calls: 7,
      // The first WORKER_LOST: sent at 9950, answered at 10 800.
      slowest_ms: 850,
    });
    // Recovery judged on some clients only (Redis: the async one); never detected: null.
    const f = lossFigures([steady, failed], { killedAt: KILL, detectedAt: undefined, recoveryOf: [steady] });
    expect(f).toMatchObject({ detect_ms: null, recover_ms: 4, failed: 2 });
  });
});

const { dir: results, written } = smokeResults();

describe('cluster scenario', () => {
  it('writes throughput with 1, 2 and 3 worker hosts and the three losses, and leaves nothing behind', async () => {
    const { result, names } = await runCluster({
      seconds: 1,
      steadyS: 1,
      windowS: 15,
      clients: 4,
      resultsDir: results,
    });
    const out = (await written('cluster.json')) as ClusterResult;
    await expectChart(results, 'cluster');
    expect(out).toEqual(result);
    const num = expect.any(Number);
    expect(out.throughput).toEqual(
      [1, 2, 3].map((workers) => ({ workers, c1_p50_ms: num, c32_rps: num, errors: num })),
    );
    for (const row of out.throughput) {
      expect(row.c1_p50_ms).toBeGreaterThan(0);
      expect(row.c32_rps).toBeGreaterThan(0);
    }
    expect(out.direct).toEqual({ c1_p50_ms: num, c32_rps: num });
    const numOrNull = expect.toSatisfy((v: unknown) => v === null || typeof v === 'number');
    const loss = {
      detect_ms: numOrNull,
      recover_ms: numOrNull,
      failed: num,
      codes: expect.any(Object),
      calls: num,
      slowest_ms: num,
    };
    expect(out.loss).toEqual({ worker: loss, nats_node: loss, redis_primary: { ...loss, lost: num } });
    for (const l of Object.values(out.loss)) {
      expect(l.calls).toBeGreaterThan(0);
      expect(l.slowest_ms).toBeGreaterThan(0);
      expect(Object.values(l.codes).reduce((a, b) => a + b, 0)).toBe(l.failed);
    }
    // Noticed within the window: the worker's heartbeats stop, clients move off a dead NATS
    // node, a sentinel promotes the replica. A vanished worker host's recovery may take longer
    // than the window (README), so it alone may be null.
    expect(out.loss.worker.detect_ms).toEqual(expect.any(Number));
    for (const l of [out.loss.nats_node, out.loss.redis_primary]) {
      expect(l.detect_ms).toEqual(expect.any(Number));
      expect(l.recover_ms).toEqual(expect.any(Number));
    }
    // Sentinel's down-after-milliseconds (3 s) comes before any promotion.
    expect(out.loss.redis_primary.detect_ms).toBeGreaterThan(1500);
    expect(out.loss.redis_primary.lost).toBe(0);

    expect(names.length).toBeGreaterThan(3);
    expect(findTestResidue().filter((r) => names.some((n) => r.includes(n)))).toEqual([]);
  }, 240_000);
});
