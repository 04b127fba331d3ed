/**
 * CPU time of one host tool, measured per child: concurrent starts make a process-wide delta
 * (/proc/self/stat's cutime) count each other's tools. Node gives no rusage of a child, so the
 * tool runs under bash, which waits for it and prints its children's rusage (`times`: user and
 * system of every descendant it reaped, to the millisecond) on fd 3. The tool itself gets fd 3
 * closed, so nothing it leaves running (a detached container) holds the pipe open.
 */
const WRAPPER = '"$@" 3>&-; s=$?; times >&3; exit $s';

/** The command line that runs `bin args` and reports its CPU time on fd 3. */
export function measuredArgv(bin: string, args: readonly string[]): { bin: string; args: string[] } {
  return { bin: 'bash', args: ['-c', WRAPPER, 'thaw-measure', bin, ...args] };
}

/** One `times` figure ("0m0.012s") in milliseconds. */
function timesMs(s: string): number {
  const m = /^(\d+)m([\d.]+)s$/.exec(s);
  return m ? Number(m[1]) * 60_000 + Number(m[2]) * 1000 : Number.NaN;
}

/**
 * The children's user + system time from bash's `times` output (its second line), in
 * milliseconds; undefined when the output is not that.
 */
export function parseChildCpu(out: string): number | undefined {
  const line = out.trim().split('\n')[1];
  const parts = line?.trim().split(/\s+/) ?? [];
  if (parts.length !== 2) return undefined;
  const ms = timesMs(parts[0] ?? '') + timesMs(parts[1] ?? '');
  return Number.isFinite(ms) ? Math.round(ms * 1000) / 1000 : undefined;
}
