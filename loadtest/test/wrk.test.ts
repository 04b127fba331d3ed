import { describe, expect, it } from 'vitest';
import { parseWrk } from '../src/wrk.js';

const sample = `Running 10s test @ http://127.0.0.1:8080/
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   512.00us  100.00us   3.00ms   90.00%
    Req/Sec     1.90k   100.00     2.00k    70.00%
  Latency Distribution
     50%  480.00us
     75%  520.00us
     90%  600.00us
     99%    1.20ms
  19000 requests in 10.00s, 3.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   1900.00
Transfer/sec:    300.00KB
`;

describe('parseWrk', () => {
  it('reads percentiles in any unit, throughput and failures', () => {
    expect(parseWrk(sample)).toEqual({ p50_ms: 0.48, p99_ms: 1.2, rps: 1900, requests: 19000, errors: 3 });
  });
  it('counts socket errors as failures', () => {
    const out = sample.replace(
      '  Non-2xx or 3xx responses: 3\n',
      '  Socket errors: connect 1, read 2, write 0, timeout 4\n',
    );
    expect(parseWrk(out).errors).toBe(7);
  });
  it('refuses output without a latency distribution', () => {
    expect(() => parseWrk('Requests/sec: 1\n 1 requests in 1s')).toThrow(/50% latency/);
  });
});
