import { type Platform, startPlatform } from '@thaw/devkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/index.js';
import { statsText } from '../src/stats.js';

// `thaw stats` against a real gateway, NATS and Redis. No worker runs: the function's image is
// a registry reference nothing pulls, so each call fails on the platform (FUNCTION_NOT_READY or
// NO_WORKER) and is counted as an error, with its latency.
const prefix = `cst${process.pid}`;
let platform: Platform;

beforeAll(async () => {
  platform = await startPlatform({ gatewayPort: 0, prefix, logs: 'buffer', worker: false });
}, 120_000);

afterAll(async () => {
  await platform?.close();
});

async function cli(args: string[]) {
  let out = '';
  let err = '';
  const code = await run(
    args,
    { out: (s) => (out += s), err: (s) => (err += s), tty: false },
    { ...process.env, THAW_URL: platform.gatewayUrl, THAW_TOKEN: platform.token },
  );
  return { code, out, err };
}

describe('thaw stats', () => {
  it("prints a function's calls per bucket with a total, as JSON with --json", async () => {
    const res = await platform.fetch(`${platform.gatewayUrl}/v1/functions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'cs-fn', image: '127.0.0.1:9/nothing/here:1' }),
    });
    expect(res.status).toBeLessThan(300);
    for (let i = 0; i < 3; i++) expect((await cli(['invoke', 'cs-fn'])).code).toBe(1);
    const text = await cli(['stats', 'cs-fn', '--since', '1m']);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/^TIME \(UTC\)\s+CALLS\s+ERRORS\s+COLD\s+RATE\/S\s+P50 MS\s+P99 MS\n/);
    expect(text.out).toMatch(/\ntotal\s+3\s+3\s+0\s+\S+\n$/);
    const json = await cli(['stats', 'cs-fn', '--json']);
    const answer = JSON.parse(json.out) as {
      bucketSeconds: number;
      functions: Record<string, { calls: number }[]>;
    };
    expect(answer.bucketSeconds).toBe(10);
    expect((answer.functions['cs-fn'] ?? []).reduce((n, p) => n + p.calls, 0)).toBe(3);
    expect((await cli(['stats', 'no-such-fn'])).out).toBe('no calls of no-such-fn in the last 5m\n');
    const bad = await cli(['stats', 'cs-fn', '--since', '2h']);
    expect([bad.code, bad.err]).toEqual([1, expect.stringContaining('VALIDATION_FAILED')]);
  });

  it('formats the buckets that saw calls', () => {
    const p = (t: string, calls: number, p50: number | null, p99: number | null) => ({
      t: `2026-01-01T00:00:${t}.000Z`,
      calls,
      errors: calls ? 1 : 0,
      cold: 0,
      ratePerSec: calls / 10,
      p50Ms: p50,
      p99Ms: p99,
    });
    expect(
      statsText('f', '5m', [p('00', 20, 1.234, 45.6), p('10', 0, null, null), p('20', 5, 12.5, 300)]),
    ).toBe(
      'TIME (UTC)  CALLS  ERRORS  COLD  RATE/S  P50 MS  P99 MS\n' +
        '00:00:00    20     1       0     2       1.23    46\n' +
        '00:00:20    5      1       0     0.5     13      300\n' +
        'total       25     2       0                     300\n',
    );
  });
});
