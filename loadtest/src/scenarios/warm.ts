/**
 * `warm` scenario: invoke latency and throughput through the gateway at concurrency 1, 32 and
 * 128, against direct HTTP to the same container in the same run, with failed requests counted
 * (wrk's non-2xx answers and socket errors). Writes <results>/warm.json.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deleteFunction, deployFunction } from '@thaw/devkit';
import { writeChart } from '../charts/render.js';
import { warmChart } from '../charts/warm.js';
import type { BenchPlatform } from '../platform.js';
import { envInt, resultsDir } from '../settings.js';
import { ratio } from '../stats.js';
import { type LoadFigures, runWrk } from '../wrk.js';

export interface WarmSettings {
  /** Length of each wrk run. */
  seconds: number;
  resultsDir: string;
}

export function warmSettings(env: NodeJS.ProcessEnv): WarmSettings {
  return { seconds: envInt(env, 'BENCH_SECONDS', 10), resultsDir: resultsDir(env) };
}

/** Kept thawed between the gateway runs and the direct runs, so both hit a running container. */
export const warmWorkerEnv = { FREEZE_AFTER_MS: '600000' };

/** The connection counts measured: one caller, a busy service, and more callers than one pool's slots. */
export const WARM_CONNECTIONS = [1, 32, 128] as const;
export type WarmLevel = `c${(typeof WARM_CONNECTIONS)[number]}`;

/** One wrk run's figures, with its failed requests (a run with errors is reported, not thrown). */
export type WarmFigures = LoadFigures & { errors: number };
export type WarmResult = Record<'gateway' | 'direct', Record<WarmLevel, WarmFigures>>;

/**
 * The URL of the one running container. Only a created container has a state.json: the worker
 * also keeps a bundle prepared ahead (rootfs and network, no process) for the next start.
 */
async function theOneContainer(containersDir: string): Promise<string> {
  const states: { ip: string; port: number }[] = [];
  for (const bundle of await readdir(containersDir)) {
    const text = await readFile(join(containersDir, bundle, 'state.json'), 'utf8').catch(() => undefined);
    if (text) states.push(JSON.parse(text) as { ip: string; port: number });
  }
  const [state] = states;
  if (!state || states.length !== 1)
    throw new Error(`expected the one container of "warm", found ${states.length}`);
  return `http://${state.ip}:${state.port}/bench`;
}

export async function runWarm(bench: BenchPlatform, s: WarmSettings): Promise<WarmResult> {
  const { platform, rt } = bench;
  const digest = await bench.image('node-hello');
  // One instance taking every connection: the direct baseline hits the very same container.
  await deployFunction(
    platform.gatewayUrl,
    { name: 'warm', image: digest, concurrency: 64, maxInstances: 1 },
    platform.token,
  );
  const gatewayUrl = `${platform.gatewayUrl}/fn/warm/bench`;
  const first = await fetch(gatewayUrl);
  if (first.status !== 200) throw new Error(`warm-up call failed: ${first.status} ${await first.text()}`);
  const directUrl = await theOneContainer(join(rt.stateDir, 'containers'));

  const out: WarmResult = {
    gateway: {} as Record<WarmLevel, WarmFigures>,
    direct: {} as Record<WarmLevel, WarmFigures>,
  };
  for (const c of WARM_CONNECTIONS) {
    for (const [path, url] of [
      ['direct', directUrl],
      ['gateway', gatewayUrl],
    ] as const) {
      const r = await runWrk({ url, connections: c, seconds: s.seconds });
      out[path][`c${c}`] = { p50_ms: r.p50_ms, p99_ms: r.p99_ms, rps: r.rps, errors: r.errors };
      console.log(
        `${path.padEnd(8)} c${String(c).padEnd(3)} p50 ${r.p50_ms.toFixed(3)} ms  p99 ${r.p99_ms.toFixed(3)} ms  ${r.rps.toFixed(0)} req/s  ${r.errors} errors of ${r.requests}`,
      );
    }
  }
  const x = (k: WarmLevel) => ratio(out.gateway[k].p50_ms, out.direct[k].p50_ms).toFixed(2);
  const share = (k: WarmLevel) => ((100 * out.gateway[k].rps) / out.direct[k].rps).toFixed(0);
  console.log(`gateway/direct p50 ratio: c1 ${x('c1')}x, c32 ${x('c32')}x, c128 ${x('c128')}x`);
  console.log(`gateway throughput, % of direct: c32 ${share('c32')}%, c128 ${share('c128')}%`);
  await deleteFunction(platform.gatewayUrl, 'warm', platform.token);
  await mkdir(s.resultsDir, { recursive: true });
  await writeFile(join(s.resultsDir, 'warm.json'), `${JSON.stringify(out, null, 2)}\n`);
  await writeChart(s.resultsDir, 'warm', warmChart(out));
  console.log(`wrote ${join(s.resultsDir, 'warm.json')}, warm.svg and warm.png`);
  return out;
}
