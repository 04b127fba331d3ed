import { describe, expect, it } from 'vitest';
import { parseChildCpu, runMeasured } from '../../src/process/index.js';

describe("a child's CPU time", () => {
  it("reads the children's user + system line of bash's times", () => {
    expect(parseChildCpu('0m0.002s 0m0.000s\n0m0.097s 0m0.013s\n')).toBe(110);
    expect(parseChildCpu('0m0.000s 0m0.000s\n1m2.500s 0m0.000s')).toBe(62_500);
    expect(parseChildCpu('')).toBeUndefined();
    expect(parseChildCpu('garbage\nmore garbage')).toBeUndefined();
  });

  it('is measured per child: a busy tool shows its CPU, an idle one none', async () => {
    const busy = await runMeasured('sh', [
      '-c',
      'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo out',
    ]);
    expect(busy.stdout).toBe('out\n');
    expect(busy.cpuMs).toBeGreaterThan(20);
    const idle = await runMeasured('sleep', ['0.2']);
    expect(idle.cpuMs).toBeLessThan(20);
  });

  it('passes input through, and fails with the stderr of a failing tool', async () => {
    expect((await runMeasured('cat', [], { input: 'in' })).stdout).toBe('in');
    await expect(runMeasured('sh', ['-c', 'echo bad >&2; exit 3'])).rejects.toThrow(/bad/);
  });
});
