/**
 * `warm` scenario: invoke latency and throughput through the gateway at concurrency 1 and 32,
 * against direct HTTP to the same container in the same run. Writes loadtest/results/warm.json.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deployFunction, startPlatform, uploadImage, workerEnvFor } from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { buildTestImage } from '@thaw/runtime/testimages';
import { type LoadFigures, runWrk } from './wrk.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const results = fileURLToPath(new URL('../results/', import.meta.url));
const rt = scratchRuntimeOptions('bench');

const platform = await startPlatform({
  gatewayPort: 0,
  prefix: 'bench',
  logs: 'buffer',
  logLevel: 'warn',
  workerEnv: {
    ...workerEnvFor(rt),
    // Kept thawed between the gateway runs and the direct runs, so both hit a running container.
    FREEZE_AFTER_MS: '600000',
  },
});
try {
  const image = await buildTestImage('node-hello', 'oci', join(rt.stateDir, 'archives'));
  const { digest } = await uploadImage(platform.gatewayUrl, image.path, platform.token);
  // One instance taking every connection: the direct baseline hits the very same container.
  await deployFunction(
    platform.gatewayUrl,
    {
      name: 'warm',
      image: digest,
      concurrency: 64,
      maxInstances: 1,
    },
    platform.token,
  );
  const gatewayUrl = `${platform.gatewayUrl}/fn/warm/bench`;
  const first = await fetch(gatewayUrl);
  if (first.status !== 200) throw new Error(`warm-up call failed: ${first.status} ${await first.text()}`);
  const [bundle] = await readdir(join(rt.stateDir, 'containers'));
  if (!bundle) throw new Error('no container found after the warm-up call');
  const state = JSON.parse(await readFile(join(rt.stateDir, 'containers', bundle, 'state.json'), 'utf8')) as {
    ip: string;
    port: number;
  };
  const directUrl = `http://${state.ip}:${state.port}/bench`;

  const out: Record<'gateway' | 'direct', Record<'c1' | 'c32', LoadFigures>> = {
    gateway: {} as Record<'c1' | 'c32', LoadFigures>,
    direct: {} as Record<'c1' | 'c32', LoadFigures>,
  };
  for (const c of [1, 32] as const) {
    for (const [path, url] of [
      ['direct', directUrl],
      ['gateway', gatewayUrl],
    ] as const) {
      const r = await runWrk({ url, connections: c, seconds });
      if (r.errors > 0) throw new Error(`${path} c${c}: ${r.errors} failed requests of ${r.requests}`);
      out[path][`c${c}`] = { p50_ms: r.p50_ms, p99_ms: r.p99_ms, rps: r.rps };
      console.log(
        `${path.padEnd(8)} c${String(c).padEnd(3)} p50 ${r.p50_ms.toFixed(3)} ms  p99 ${r.p99_ms.toFixed(3)} ms  ${r.rps.toFixed(0)} req/s`,
      );
    }
  }
  const ratio = (k: 'c1' | 'c32') => (out.gateway[k].p50_ms / out.direct[k].p50_ms).toFixed(2);
  console.log(`gateway/direct p50 ratio: c1 ${ratio('c1')}x, c32 ${ratio('c32')}x`);
  await mkdir(results, { recursive: true });
  await writeFile(join(results, 'warm.json'), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote ${join(results, 'warm.json')}`);
} finally {
  await platform.close();
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
}
