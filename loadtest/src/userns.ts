/**
 * What a user namespace costs a cold start (docs/userns.md): create→first-answer with and
 * without `RuntimeOptions.userns`, interleaved in one run, for busybox-httpd and node-hello.
 * `node loadtest/dist/userns.js` as root; RUNS (default 20) per image and mode.
 */
import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ImageStore,
  Runtime,
  type RuntimeOptions,
  ShiftedLayers,
  type StoredImage,
  scratchRuntimeOptions,
} from '@thaw/runtime';
import { buildTestImage, type TestImageName } from '@thaw/runtime/testimages';
import { round, summarize } from './stats.js';

const runs = Number(process.env.RUNS ?? 20);
const hostId = 100000;

/** Milliseconds from create() to the first 200 from the server. */
async function coldStart(runtime: Runtime, image: StoredImage): Promise<number> {
  const t0 = performance.now();
  const c = await runtime.create({ image, port: 8080 });
  try {
    const res = await fetch(`http://${c.ip}:${c.port}/`, { signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`first answer was ${res.status}`);
    return performance.now() - t0;
  } finally {
    await c.destroy();
  }
}

function duBytes(paths: string[]): number {
  const out = execFileSync('du', ['-sbc', ...paths], { encoding: 'utf8' });
  return Number(out.trim().split('\n').at(-1)?.split('\t')[0] ?? 0);
}

const plainOpts = scratchRuntimeOptions('nsplain');
const nsOpts: RuntimeOptions = { ...scratchRuntimeOptions('nsuser'), userns: { hostId } };
const { runtime: plain } = await Runtime.open(plainOpts);
const { runtime: userns } = await Runtime.open(nsOpts);
const report: Record<string, unknown> = {
  runs,
  hostId,
  kernel: execFileSync('uname', ['-r']).toString().trim(),
};
try {
  for (const name of ['busybox-httpd', 'node-hello'] as TestImageName[]) {
    const built = await buildTestImage(name, 'oci', join(plainOpts.stateDir, 'archives'));
    const image = await new ImageStore(join(plainOpts.stateDir, 'images')).importArchive(built.path);
    // The one-time cost on its own: a copy of every layer owned by the range, in a fresh folder.
    const copies = new ShiftedLayers(join(plainOpts.stateDir, 'copies'), { hostId, size: 65536 });
    const c0 = performance.now();
    for (const layer of image.layers) await copies.get(layer);
    const copyMs = performance.now() - c0;
    await copies.clear();
    // The first userns start makes the range's copy of each layer; later ones reuse it.
    const first = await coldStart(userns, image);
    // One warm-up each, so that page cache and the JIT are alike for both.
    await coldStart(plain, image);
    await coldStart(userns, image);
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < runs; i++) {
      a.push(await coldStart(plain, image));
      b.push(await coldStart(userns, image));
    }
    const sa = summarize(a);
    const sb = summarize(b);
    report[name] = {
      layers_bytes: duBytes(image.layers),
      layer_copy_ms: round(copyMs, 1),
      first_userns_start_ms: round(first, 1),
      plain: sa,
      userns: sb,
      p50_delta_ms: round(sb.p50_ms - sa.p50_ms, 1),
      p50_ratio: round(sb.p50_ms / sa.p50_ms, 3),
    };
  }
} finally {
  await plain.close();
  await userns.close();
  for (const o of [plainOpts, nsOpts]) {
    await rm(o.stateDir, { recursive: true, force: true });
    await rm(o.runDir, { recursive: true, force: true });
  }
}
console.log(JSON.stringify(report, null, 2));
