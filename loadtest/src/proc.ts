/** Readers of the /proc files the density scenario measures with. */

/** MemAvailable of a /proc/meminfo text, in MiB. */
export function parseMemAvailableMiB(meminfo: string): number {
  const m = /^MemAvailable:\s+(\d+) kB$/m.exec(meminfo);
  if (!m?.[1]) throw new Error('no MemAvailable in /proc/meminfo');
  return Number(m[1]) / 1024;
}

/**
 * CPU time (user + system, seconds) of a /proc/<pid>/stat text. The command name (field 2)
 * may hold spaces and parentheses, so the fields are counted from its last ')'.
 */
export function parseCpuSeconds(stat: string, ticksPerSecond = 100): number {
  const close = stat.lastIndexOf(')');
  if (close < 0) throw new Error('not a /proc/<pid>/stat text');
  // After ')' come field 3 (state) onwards: utime and stime are fields 14 and 15.
  const fields = stat.slice(close + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isInteger(utime) || !Number.isInteger(stime))
    throw new Error('no utime/stime in /proc/<pid>/stat');
  return (utime + stime) / ticksPerSecond;
}

/** CPU used over a wall-clock span, as a percentage of one core with two decimals. */
export function cpuPercent(cpuSeconds: number, wallSeconds: number): number {
  if (!(wallSeconds > 0)) throw new Error(`no CPU share over ${wallSeconds} s`);
  return Math.round((cpuSeconds / wallSeconds) * 10_000) / 100;
}
