import type { FunctionView } from '@thaw/client';

type InstanceView = FunctionView['workers'][number]['instances'][number];
/** Phases of an instance's cold start, as GET /v1/functions/{name} shows them (ms). */
export type StartView = NonNullable<InstanceView['start']>;
/** Instances removed, by why (memory, idle-age, requested, crashed, retired, closed). */
export type RemovalsView = FunctionView['removed'];

/** Columns padded to their widest cell; the last one is not padded. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return `${rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n')}\n`;
}

const ms = (n: number) => String(Math.round(n));

/** `92 ms (image 0, rootfs 8, network 21, runtime 38, app 25; cpu 61 ms)`, or `-` when unknown. */
export function startText(s: StartView | undefined): string {
  if (!s) return '-';
  const phases = `image ${ms(s.imageMs)}, rootfs ${ms(s.rootfsMs)}, network ${ms(s.networkMs)}, runtime ${ms(s.runtimeMs)}, app ${ms(s.appMs)}`;
  return `${ms(s.totalMs)} ms (${phases}${s.cpuMs === undefined ? '' : `; cpu ${ms(s.cpuMs)} ms`})`;
}

/** Whole MiB as they are, else one decimal (a frozen busybox is charged a few MiB). */
export function mibText(mib: number | undefined): string {
  if (mib === undefined) return '-';
  return `${Number.isInteger(mib) ? mib : mib.toFixed(1)} MiB`;
}

/** `5 (memory 3, idle-age 1, requested 1)`, largest first, or `none`. */
export function removalsText(removed: RemovalsView | undefined): string {
  const counts = Object.entries(removed ?? {})
    .filter(([, n]) => n > 0)
    .sort(([a, x], [b, y]) => y - x || a.localeCompare(b));
  if (counts.length === 0) return 'none';
  const total = counts.reduce((sum, [, n]) => sum + n, 0);
  return `${total} (${counts.map(([reason, n]) => `${reason} ${n}`).join(', ')})`;
}
