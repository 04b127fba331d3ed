/**
 * `burst` scenario: a function with a 50 ms handler, no minimum and no idle age (the worker's
 * keep-frozen default), scaled to zero on request (POST /v1/functions/burst/scale-to-zero);
 * 0 → CLIENTS concurrent clients within one second, held HOLD_S seconds; then an idle gap of
 * GAP_S seconds, longer than the old 10 s idle time-to-live, and a second identical burst,
 * which should thaw the instances the first one started rather than create new ones.
 * Reports failed requests, latency, how long throughput takes to reach its steady level and
 * instances over time for the first burst, and the same for the second with its cold starts
 * (the worker's instance starts counted over it).
 * The baseline, in the same run: the handler's own 50 ms, and the throughput CLIENTS clients
 * would get with no overhead at all (CLIENTS / 50 ms).
 * Writes <results>/burst.json, and burst.svg and burst.png (both bursts: charts/burst.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createThawClient, deleteFunction, deployFunction, unwrap } from '@thaw/devkit';
import { Agent } from 'undici';
import { burstChart } from '../charts/burst.js';
import { writeChart } from '../charts/render.js';
import {
  type Call,
  firstReached,
  perSecond,
  rampSeconds,
  type SecondFigures,
  steadyLevel,
} from '../figures.js';
import { closedLoop } from '../load.js';
import { type BenchPlatform, workerSamples } from '../platform.js';
import { sumOf } from '../promtext.js';
import { envInt, resultsDir } from '../settings.js';
import { percentile, round } from '../stats.js';

export interface BurstSettings {
  clients: number;
  holdS: number;
  /** Idle seconds between the two bursts. */
  gapS: number;
  resultsDir: string;
}

export function burstSettings(env: NodeJS.ProcessEnv): BurstSettings {
  return {
    clients: envInt(env, 'BENCH_CLIENTS', 64),
    holdS: envInt(env, 'BENCH_HOLD_S', 20),
    gapS: envInt(env, 'BENCH_GAP_S', 15),
    resultsDir: resultsDir(env),
  };
}

export interface BurstResult {
  errors: number;
  requests: number;
  p50_ms: number;
  p99_ms: number;
  /** Seconds until throughput first reached 90% of steady_rps. */
  ramp_s: number | null;
  max_instances: number;
  /** When the pool first counted max_instances (wanted or starting), from the start of the load. */
  max_instances_at_s: number | null;
  /** When max_instances were first all running. */
  all_running_at_s: number | null;
  steady_rps: number;
  ideal_rps: number;
  handler_ms: number;
  gap_s: number;
  per_second: SecondFigures[];
  /** Both bursts and the gap, from the start of the first. */
  instances: { t: number; instances: number; running: number }[];
  second: SecondBurst;
}

export interface SecondBurst {
  ramp_s: number | null;
  p50_ms: number;
  p99_ms: number;
  /** Instances the worker started during the second burst (any reason; refused starts are not). */
  cold_starts: number;
  errors: number;
  requests: number;
  steady_rps: number;
  /** Instances the pool held when the second burst began. */
  instances_before: number;
  per_second: SecondFigures[];
}

const HANDLER_MS = 50;
/** Removing the deploy's instance, through NATS and the worker's pool. */
const ZERO_WITHIN_MS = 30_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runBurst(bench: BenchPlatform, s: BurstSettings): Promise<BurstResult> {
  const { platform } = bench;
  const agent = new Agent({ connections: s.clients * 2, keepAliveTimeout: 30_000 });
  // The pool is read on the burst's own connections: its reads do not wait behind the burst.
  const api = createThawClient({
    baseUrl: platform.gatewayUrl,
    token: platform.token,
    fetch: (input, init) => fetch(input, { ...init, dispatcher: agent } as RequestInit),
  });
  async function pool(): Promise<{ instances: number; running: number }> {
    const fn = unwrap(await api.GET('/v1/functions/{name}', { params: { path: { name: 'burst' } } }));
    let instances = 0;
    let running = 0;
    for (const w of fn.workers) {
      instances += w.instances.length + w.starting;
      running += w.instances.filter((i) => i.state === 'running').length;
    }
    return { instances, running };
  }
  const starts = async () =>
    sumOf(await workerSamples(platform), 'thaw_worker_instance_starts_total', {
      function: 'burst',
      result: 'ok',
    });

  try {
    const digest = await bench.image('node-hello');
    await deployFunction(
      platform.gatewayUrl,
      {
        name: 'burst',
        image: digest,
        minInstances: 0,
        maxInstances: s.clients,
        concurrency: 1,
        timeoutMs: 30_000,
      },
      platform.token,
    );
    // The deploy's warm instance is removed on request: the first burst starts from zero.
    unwrap(await api.POST('/v1/functions/{name}/scale-to-zero', { params: { path: { name: 'burst' } } }));
    const zeroBy = Date.now() + ZERO_WITHIN_MS;
    while ((await pool()).instances > 0) {
      if (Date.now() > zeroBy) throw new Error('the pool did not scale to zero before the burst');
      await sleep(200);
    }
    console.log(`pool at zero; ${s.clients} clients within 1 s, held ${s.holdS} s, twice, ${s.gapS} s apart`);

    const t0 = performance.now();
    const now = () => (performance.now() - t0) / 1000;
    const samples: { t: number; instances: number; running: number }[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const p = await pool();
        samples.push({ t: now(), ...p });
        await sleep(250);
      }
    })();
    const url = `${platform.gatewayUrl}/fn/burst/sleep?ms=${HANDLER_MS}`;
    let first: Call[];
    let second: Call[];
    let secondAt: number;
    let instancesBefore: number;
    let secondStarts: number;
    try {
      first = await closedLoop({ url, clients: s.clients, holdS: s.holdS, agent, t0 });
      await sleep(s.gapS * 1000);
      instancesBefore = (await pool()).instances;
      const startsBefore = await starts();
      secondAt = now();
      second = await closedLoop({ url, clients: s.clients, holdS: s.holdS, agent, t0 });
      secondStarts = (await starts()) - startsBefore;
      await sleep(1000); // the chart shows the pool after the second burst too
    } finally {
      sampling = false;
      await sampler.catch(() => undefined);
    }

    const a = loadFigures(first, 0, s.holdS);
    const b = loadFigures(second, secondAt, s.holdS);
    const maxInstances = Math.max(0, ...samples.filter((x) => x.t < secondAt).map((x) => x.instances));
    const ideal = s.clients * (1000 / HANDLER_MS);
    const out: BurstResult = {
      errors: a.errors,
      requests: a.requests,
      p50_ms: a.p50_ms,
      p99_ms: a.p99_ms,
      ramp_s: a.ramp_s,
      max_instances: maxInstances,
      max_instances_at_s: maxInstances
        ? firstReached(
            samples.map((x) => ({ t: round(x.t, 2), value: x.instances })),
            maxInstances,
          )
        : null,
      all_running_at_s: maxInstances
        ? firstReached(
            samples.map((x) => ({ t: round(x.t, 2), value: x.running })),
            maxInstances,
          )
        : null,
      steady_rps: a.steady_rps,
      ideal_rps: ideal,
      handler_ms: HANDLER_MS,
      gap_s: s.gapS,
      per_second: a.per_second,
      instances: samples.map((x) => ({ t: round(x.t, 2), instances: x.instances, running: x.running })),
      second: { ...b, cold_starts: secondStarts, instances_before: instancesBefore },
    };
    for (const [name, f] of [
      ['first', a],
      ['second', out.second],
    ] as const) {
      console.log(
        `${name}: errors ${f.errors} of ${f.requests}; p50 ${f.p50_ms} ms, p99 ${f.p99_ms} ms (handler ${HANDLER_MS} ms); ` +
          `steady ${f.steady_rps} req/s of ${ideal} ideal; ramp ${f.ramp_s} s`,
      );
    }
    console.log(
      `first: max instances ${out.max_instances} (all running at ${out.all_running_at_s} s); ` +
        `second: ${instancesBefore} instances kept over the ${s.gapS} s gap, ${secondStarts} cold starts`,
    );

    await mkdir(s.resultsDir, { recursive: true });
    await writeFile(join(s.resultsDir, 'burst.json'), `${JSON.stringify(out, null, 2)}\n`);
    await writeChart(s.resultsDir, 'burst', burstChart(out));
    console.log(`wrote ${join(s.resultsDir, 'burst.json')}, burst.svg and burst.png`);
    return out;
  } finally {
    await agent.close();
    await deleteFunction(platform.gatewayUrl, 'burst', platform.token).catch(() => undefined);
  }
}

/** One burst's figures, its calls' times shifted to start at 0. */
function loadFigures(
  calls: Call[],
  at: number,
  holdS: number,
): Omit<SecondBurst, 'cold_starts' | 'instances_before'> {
  const shifted = calls.map((c) => ({ ...c, start: c.start - at, end: c.end - at }));
  const ok = shifted.filter((c) => c.status === 200);
  if (ok.length === 0) throw new Error(`not one of ${calls.length} calls succeeded`);
  const lat = ok.map((c) => (c.end - c.start) * 1000).sort((x, y) => x - y);
  const seconds = perSecond(shifted, Math.ceil(Math.max(...shifted.map((c) => c.end))));
  const steady = steadyLevel(seconds, holdS);
  return {
    ramp_s: rampSeconds(seconds, steady),
    p50_ms: round(percentile(lat, 50), 2),
    p99_ms: round(percentile(lat, 99), 2),
    errors: calls.length - ok.length,
    requests: calls.length,
    steady_rps: steady,
    per_second: seconds,
  };
}
