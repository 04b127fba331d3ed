import { execFile } from 'node:child_process';

export interface LoadFigures {
  p50_ms: number;
  p99_ms: number;
  rps: number;
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  switch (unit) {
    case 'us':
      return n / 1000;
    case 'ms':
      return n;
    case 's':
      return n * 1000;
    case 'm':
      return n * 60_000;
    default:
      throw new Error(`unknown wrk time unit "${unit}"`);
  }
}

/** Reads p50, p99 and requests/s from `wrk --latency` output; errors count as failures. */
export function parseWrk(output: string): LoadFigures & { errors: number; requests: number } {
  const pct = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(output);
    if (!m?.[1] || !m[2]) throw new Error(`wrk output has no ${p}% latency:\n${output}`);
    return toMs(m[1], m[2]);
  };
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(output)?.[1];
  const requests = /^\s*(\d+) requests in/m.exec(output)?.[1];
  if (!rps || !requests) throw new Error(`wrk output has no totals:\n${output}`);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return {
    p50_ms: pct('50'),
    p99_ms: pct('99'),
    rps: Number(rps),
    requests: Number(requests),
    errors: non2xx + socketErrors,
  };
}

export interface WrkRun {
  url: string;
  connections: number;
  seconds: number;
}

/** Runs wrk (Debian's package) against a URL on this machine and parses its report. */
export function runWrk(r: WrkRun): Promise<ReturnType<typeof parseWrk>> {
  const threads = Math.min(r.connections, 2);
  const args = [`-t${threads}`, `-c${r.connections}`, `-d${r.seconds}s`, '--latency', r.url];
  return new Promise((resolve, reject) => {
    execFile('wrk', args, { timeout: (r.seconds + 30) * 1000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`wrk failed: ${stderr || err.message}`));
      try {
        resolve(parseWrk(stdout));
      } catch (e) {
        reject(e);
      }
    });
  });
}
