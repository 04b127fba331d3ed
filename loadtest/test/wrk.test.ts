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

const withLatencies = (p50: string, p99: string) =>
  sample.replace('50%  480.00us', `50%  ${p50}`).replace('99%    1.20ms', `99%    ${p99}`);

describe('parseWrk', () => {
  it('reads percentiles in any unit, throughput and failures', () => {
    expect(parseWrk(sample)).toEqual({ p50_ms: 0.48, p99_ms: 1.2, rps: 1900, requests: 19000, errors: 3 });
  });
  it('converts us, ms, s and m to milliseconds', () => {
    expect(parseWrk(withLatencies('250.00us', '2.50ms'))).toMatchObject({ p50_ms: 0.25, p99_ms: 2.5 });
    expect(parseWrk(withLatencies('1.50s', '2.00m'))).toMatchObject({ p50_ms: 1500, p99_ms: 120_000 });
  });
  it('reads the 50% and 99% rows, not the 75% and 90% ones', () => {
    const out = sample.replace('75%  520.00us', '75%  9.00ms').replace('90%  600.00us', '90%  9.00ms');
    expect(parseWrk(out)).toMatchObject({ p50_ms: 0.48, p99_ms: 1.2 });
  });
  it('counts no failures when wrk reports none', () => {
    expect(parseWrk(sample.replace('  Non-2xx or 3xx responses: 3\n', '')).errors).toBe(0);
  });
  it('counts socket errors as failures', () => {
    const out = sample.replace(
      '  Non-2xx or 3xx responses: 3\n',
      '  Socket errors: connect 1, read 2, write 0, timeout 4\n',
    );
    expect(parseWrk(out).errors).toBe(7);
  });
  it('adds socket errors and non-2xx answers', () => {
    const out = sample.replace(
      '  Non-2xx or 3xx responses: 3\n',
      '  Socket errors: connect 0, read 0, write 0, timeout 2\n  Non-2xx or 3xx responses: 3\n',
    );
    expect(parseWrk(out).errors).toBe(5);
  });
  it('refuses output without a latency distribution', () => {
    expect(() => parseWrk('Requests/sec: 1\n 1 requests in 1s')).toThrow(/50% latency/);
  });
  it('refuses a latency in a unit it does not know', () => {
    expect(() => parseWrk(withLatencies('480.00ns', '1.20ms'))).toThrow(/50% latency/);
  });
  it('refuses output without totals', () => {
    expect(() => parseWrk(sample.replace(/^Requests\/sec:.*$/m, ''))).toThrow(/no totals/);
    expect(() => parseWrk(sample.replace(/^.*requests in.*$/m, ''))).toThrow(/no totals/);
  });
  it('refuses empty output', () => {
    expect(() => parseWrk('')).toThrow(/no totals/);
  });
});
