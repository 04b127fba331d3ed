import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parentCpuSeconds, parentMemoryMiB, parseV2CpuSeconds } from '../src/cgroup-usage.js';

const root = mkdtempSync(join(tmpdir(), 'loadtest-cg-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
function put(path: string, text: string): void {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), text);
}

describe('cgroup usage of a parent', () => {
  it('reads v2 cpu.stat', () => {
    expect(parseV2CpuSeconds('usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n')).toBe(2.5);
    expect(() => parseV2CpuSeconds('user_usec 1\n')).toThrow(/usage_usec/);
  });
  it('prefers v1 controllers, falls back to the unified tree, and is 0 with no cgroup yet', () => {
    put('cpuacct/p1/cpuacct.usage', '3000000000\n');
    put('unified/p1/cpu.stat', 'usage_usec 9000000\n');
    put('memory/p1/memory.usage_in_bytes', `${64 * 2 ** 20}\n`);
    expect(parentCpuSeconds('p1', root)).toBe(3);
    expect(parentMemoryMiB('p1', root)).toBe(64);
    put('unified/p2/cpu.stat', 'usage_usec 1500000\n');
    put('unified/p2/memory.current', `${2 ** 21}\n`);
    expect(parentCpuSeconds('p2', root)).toBe(1.5);
    expect(parentMemoryMiB('p2', root)).toBe(2);
    expect(parentCpuSeconds('p3', root)).toBe(0);
    expect(parentMemoryMiB('p3', root)).toBe(0);
  });
});
