import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApp, type TestApp } from '../test-app.js';

let t: TestApp;
beforeAll(async () => {
  t = await openTestApp({ tag: 'gwm' });
}, 30_000);
afterAll(async () => {
  await t?.close();
});

/** The value of one sample line of the gateway's /metrics, 0 when absent. */
async function sample(line: string): Promise<number> {
  const text = (await t.inject({ url: '/metrics' })).body;
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found ? Number(found.slice(line.length + 1)) : 0;
}

describe('invoke metrics', () => {
  it('count and time every call, by its labels', async () => {
    const counted =
      'thaw_gateway_invocations_total{function="(unknown)",status="404",code="FUNCTION_NOT_FOUND"}';
    const timed = 'thaw_gateway_invocation_duration_seconds_count{function="(unknown)"}';
    const [counts, times] = [await sample(counted), await sample(timed)];
    for (let i = 0; i < 3; i++) expect((await t.inject({ url: '/fn/nope-metrics/x' })).statusCode).toBe(404);
    expect([await sample(counted), await sample(timed)]).toEqual([counts + 3, times + 3]);
  });
});
