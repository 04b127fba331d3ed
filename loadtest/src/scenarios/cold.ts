/**
 * `cold` scenario: from the first request to a function with no instance to its response,
 * through the gateway, for `node-hello` and `busybox-httpd`, RUNS runs each. Idle instances
 * are kept frozen by default, so each function is scaled to zero on request (POST
 * /v1/functions/:name/scale-to-zero): the function stays placed and its image on the host,
 * which is the cold path a call meets in service (deleting and redeploying would start an
 * instance at the deploy instead). The baseline, in the same run, is the second request to
 * the same function right after (a thaw of the instance the first one started).
 * Each cold start's phases and CPU time come from the worker (the instance's `start` in
 * GET /v1/functions/:name); medians per image, null where the worker does not report them.
 * Writes <results>/cold.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deleteFunction, deployFunction, unwrap } from '@thaw/devkit';
import { coldChart } from '../charts/cold.js';
import { writeChart } from '../charts/render.js';
import { type FunctionView, type PhaseMedians, phaseMedians, type StartRecord, startOf } from '../phases.js';
import type { BenchPlatform } from '../platform.js';
import { envInt, resultsDir } from '../settings.js';
import { ratio, type Summary, summarize } from '../stats.js';

export interface ColdSettings {
  /** Functions per image, each called cold once and then once more. */
  runs: number;
  resultsDir: string;
}

export function coldSettings(env: NodeJS.ProcessEnv): ColdSettings {
  return { runs: envInt(env, 'BENCH_RUNS', 30), resultsDir: resultsDir(env) };
}

export interface ColdResult {
  node: Summary;
  busybox: Summary;
  baseline_thaw: { node: Summary; busybox: Summary };
  /** Median CPU milliseconds (user + system) one cold start cost. */
  cpu_ms_per_start: { node: number | null; busybox: number | null };
  /** Median wall milliseconds of each phase of a cold start. */
  phases: { node: PhaseMedians; busybox: PhaseMedians };
}

/** Removing every instance of the functions, through NATS and the worker's pool. */
const ZERO_WITHIN_MS = 60_000;

export async function runCold(bench: BenchPlatform, s: ColdSettings): Promise<ColdResult> {
  const { platform } = bench;
  async function timed(url: string): Promise<number> {
    const t0 = performance.now();
    const res = await fetch(url);
    await res.arrayBuffer();
    const ms = performance.now() - t0;
    if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
    return ms;
  }
  async function fnView(name: string): Promise<FunctionView> {
    return unwrap(await platform.api.GET('/v1/functions/{name}', { params: { path: { name } } }));
  }
  const instances = async (name: string) =>
    (await fnView(name)).workers.reduce((n, w) => n + w.instances.length + w.starting, 0);
  async function scenario(image: 'node-hello' | 'busybox-httpd'): Promise<{
    cold: Summary;
    warm: Summary;
    starts: (StartRecord | null)[];
  }> {
    const digest = await bench.image(image);
    const names = Array.from({ length: s.runs }, (_, i) => `cold-${image.split('-')[0]}-${i}`);
    try {
      for (const name of names) {
        await deployFunction(platform.gatewayUrl, { name, image: digest, memoryMiB: 64 }, platform.token);
        unwrap(await platform.api.POST('/v1/functions/{name}/scale-to-zero', { params: { path: { name } } }));
      }
      const deadline = Date.now() + ZERO_WITHIN_MS;
      for (const name of names) {
        while ((await instances(name)) > 0) {
          if (Date.now() > deadline) throw new Error(`${name} did not scale to zero`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      const cold: number[] = [];
      const warm: number[] = [];
      const starts: (StartRecord | null)[] = [];
      // Once the worker is seen not to report phases, the other runs do not wait for them.
      let reported = true;
      for (const name of names) {
        cold.push(await timed(`${platform.gatewayUrl}/fn/${name}/`));
        warm.push(await timed(`${platform.gatewayUrl}/fn/${name}/`));
        const start: StartRecord | null = reported ? await startOf(() => fnView(name)) : null;
        reported = start !== null;
        starts.push(start);
      }
      return { cold: summarize(cold), warm: summarize(warm), starts };
    } finally {
      for (const name of names)
        await deleteFunction(platform.gatewayUrl, name, platform.token).catch(() => undefined);
    }
  }

  const node = await scenario('node-hello');
  const busybox = await scenario('busybox-httpd');
  for (const [k, v] of [
    ['node', node],
    ['busybox', busybox],
  ] as const) {
    console.log(
      `${k.padEnd(8)} cold p50 ${v.cold.p50_ms.toFixed(1)} ms  p99 ${v.cold.p99_ms.toFixed(1)} ms  (n ${v.cold.n});  ` +
        `next call (thaw) p50 ${v.warm.p50_ms.toFixed(2)} ms;  cold/thaw ${ratio(v.cold.p50_ms, v.warm.p50_ms).toFixed(0)}x`,
    );
  }
  const nodePhases = phaseMedians(node.starts);
  const busyboxPhases = phaseMedians(busybox.starts);
  const out: ColdResult = {
    node: node.cold,
    busybox: busybox.cold,
    baseline_thaw: { node: node.warm, busybox: busybox.warm },
    cpu_ms_per_start: { node: nodePhases.cpuMs, busybox: busyboxPhases.cpuMs },
    phases: { node: nodePhases, busybox: busyboxPhases },
  };
  console.log(
    `cold start phases (median ms): node ${JSON.stringify(nodePhases)}; busybox ${JSON.stringify(busyboxPhases)}`,
  );
  await mkdir(s.resultsDir, { recursive: true });
  await writeFile(join(s.resultsDir, 'cold.json'), `${JSON.stringify(out, null, 2)}\n`);
  await writeChart(s.resultsDir, 'cold', coldChart(out));
  console.log(`wrote ${join(s.resultsDir, 'cold.json')}, cold.svg and cold.png`);
  return out;
}
