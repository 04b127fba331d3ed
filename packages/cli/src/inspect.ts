import { unwrap } from '@thaw/client';
import type { Io } from './commands.js';
import { CliError, Exit } from './errors.js';
import { mibText, removalsText, startText, table } from './format.js';
import { call, clientFor } from './gateway.js';
import type { Target } from './target.js';

/** `thaw get NAME`: the function, how its idle instances are kept, and each instance. */
export async function get(t: Target, io: Io, args: string[]): Promise<number> {
  const name = args[0];
  if (!name) throw new CliError('usage: thaw get NAME', Exit.usage);
  const fn = await call(t, async () =>
    unwrap(await clientFor(t).GET('/v1/functions/{name}', { params: { path: { name } } })),
  );
  if (io.asJson) {
    io.out(`${JSON.stringify(fn)}\n`);
    return Exit.ok;
  }
  const idle =
    fn.idleTtlMs === undefined
      ? 'kept frozen while memory allows'
      : `removed after ${fn.idleTtlMs / 1000} s idle, above the minimum`;
  io.out(
    `name:       ${fn.name}\nrevision:   ${fn.revision}\nstatus:     ${fn.status}${fn.reason ? ` (${fn.reason})` : ''}\nimage:      ${fn.image}\n` +
      `invoke:     ${fn.invokeAuth}\nlimits:     ${fn.memoryMiB} MiB, ${fn.minInstances}-${fn.maxInstances} instances, ${fn.concurrency} at once each\n` +
      `idle:       ${idle}\nremoved:    ${removalsText(fn.removed)}\n`,
  );
  const rows = fn.workers.flatMap((w) => [
    ...w.instances.map((i) => [
      w.worker + (w.draining ? ' (draining)' : ''),
      i.id.slice(0, 12),
      i.state,
      String(i.revision),
      String(i.busy),
      mibText(i.memoryMiB),
      startText(i.start),
    ]),
    ...Array.from({ length: w.starting }, () => [
      w.worker,
      '-',
      'starting',
      String(fn.revision),
      '0',
      '-',
      '-',
    ]),
  ]);
  io.out(
    rows.length
      ? `\n${table([['WORKER', 'INSTANCE', 'STATE', 'REVISION', 'BUSY', 'MEMORY', 'START'], ...rows])}`
      : '\nno instances (scaled to zero)\n',
  );
  return Exit.ok;
}

/** `thaw scale-to-zero NAME`: every worker removes the function's idle instances above its minimum. */
export async function scaleToZero(t: Target, io: Io, args: string[]): Promise<number> {
  const name = args[0];
  if (!name) throw new CliError('usage: thaw scale-to-zero NAME', Exit.usage);
  const asked = await call(t, async () =>
    unwrap(await clientFor(t).POST('/v1/functions/{name}/scale-to-zero', { params: { path: { name } } })),
  );
  io.out(
    io.asJson
      ? `${JSON.stringify(asked)}\n`
      : `asked: ${asked.message}\nthaw get ${asked.name} shows them go (removed: requested)\n`,
  );
  return Exit.ok;
}
