import { describe, expect, it } from 'vitest';
import { cpuPercent, parseCpuSeconds, parseMemAvailableMiB } from '../src/proc.js';

describe('parseMemAvailableMiB', () => {
  it('reads MemAvailable in MiB, not MemFree', () => {
    const meminfo = 'MemTotal:       24683520 kB\nMemFree:        22471680 kB\nMemAvailable:   23695360 kB\n';
    expect(parseMemAvailableMiB(meminfo)).toBe(23140); // 23695360 / 1024
  });
  it('refuses a text without it', () => {
    expect(() => parseMemAvailableMiB('MemTotal: 1 kB\nMemFree: 1 kB\n')).toThrow(/no MemAvailable/);
  });
});

// Fields 3 onwards: state, ppid, pgrp, session, tty, tpgid, flags, minflt, cminflt, majflt,
// cmajflt, then utime (250) and stime (75), cutime (9) and cstime (9) that must not count.
const rest = 'S 1 1234 1234 0 -1 4194560 5000 0 0 0 250 75 9 9 20 0 11 0 100 1000000 200';

describe('parseCpuSeconds', () => {
  it('adds utime and stime, in clock ticks of 1/100 s', () => {
    expect(parseCpuSeconds(`1234 (node) ${rest}`)).toBe(3.25);
    expect(parseCpuSeconds(`1234 (node) ${rest}`, 1000)).toBe(0.325);
  });
  it('counts fields from the last parenthesis of a command name with spaces and parentheses', () => {
    expect(parseCpuSeconds(`1234 (my (odd) worker) ${rest}`)).toBe(3.25);
  });
  it('refuses a text that is not a stat line', () => {
    expect(() => parseCpuSeconds('hello')).toThrow(/not a \/proc/);
    expect(() => parseCpuSeconds('1 (x) S 1 2')).toThrow(/no utime/);
  });
});

describe('cpuPercent', () => {
  it('is CPU seconds over wall seconds as a percentage of a core, two decimals', () => {
    expect(cpuPercent(0.05, 10)).toBe(0.5);
    expect(cpuPercent(1, 1)).toBe(100);
    expect(cpuPercent(0.1234, 1)).toBe(12.34);
    expect(cpuPercent(0.00004, 1)).toBe(0); // below 0.005%
    expect(cpuPercent(0, 10)).toBe(0);
  });
  it('refuses an empty span', () => {
    expect(() => cpuPercent(1, 0)).toThrow(/over 0 s/);
  });
});
