/**
 * `cold` scenario: from the first request to a function with no instance (its pool scaled to
 * zero after the idle time-to-live) to its response, through the gateway, for `node-hello`
 * and `busybox-httpd`, RUNS runs each. The baseline, in the same run, is the second request to
 * the same function right after (a thaw of the instance the first one started).
 * Writes <results>/cold.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deleteFunction, deployFunction } from '@thaw/devkit';
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
}

const IDLE_TTL_MS = 1000;

export async function runCold(bench: BenchPlatform, s: ColdSettings): Promise<ColdResult> {
  const { platform } = bench;
  const auth = { authorization: `Bearer ${platform.token}` };
  async function timed(url: string): Promise<number> {
    const t0 = performance.now();
    const res = await fetch(url);
    await res.arrayBuffer();
    const ms = performance.now() - t0;
    if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
    return ms;
  }
  async function instances(name: string): Promise<number> {
    const fn = (await (
      await fetch(`${platform.gatewayUrl}/v1/functions/${name}`, { headers: auth })
    ).json()) as {
      workers: { instances: unknown[]; starting: number }[];
    };
    return fn.workers.reduce((n, w) => n + w.instances.length + w.starting, 0);
  }
  async function scenario(image: 'node-hello' | 'busybox-httpd'): Promise<{ cold: Summary; warm: Summary }> {
    const digest = await bench.image(image);
    const names = Array.from({ length: s.runs }, (_, i) => `cold-${image.split('-')[0]}-${i}`);
    try {
      for (const name of names) {
        await deployFunction(
          platform.gatewayUrl,
          { name, image: digest, idleTtlMs: IDLE_TTL_MS, memoryMiB: 64 },
          platform.token,
        );
      }
      // Every pool goes to zero once its instance has been idle for the time-to-live.
      const deadline = Date.now() + 60_000;
      for (const name of names) {
        while ((await instances(name)) > 0) {
          if (Date.now() > deadline) throw new Error(`${name} did not scale to zero`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      const cold: number[] = [];
      const warm: number[] = [];
      for (const name of names) {
        cold.push(await timed(`${platform.gatewayUrl}/fn/${name}/`));
        warm.push(await timed(`${platform.gatewayUrl}/fn/${name}/`));
      }
      return { cold: summarize(cold), warm: summarize(warm) };
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
  const out: ColdResult = {
    node: node.cold,
    busybox: busybox.cold,
    baseline_thaw: { node: node.warm, busybox: busybox.warm },
  };
  await mkdir(s.resultsDir, { recursive: true });
  await writeFile(join(s.resultsDir, 'cold.json'), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote ${join(s.resultsDir, 'cold.json')}`);
  return out;
}
