/**
 * `burst` scenario: a function with a 50 ms handler and no minimum; 0 → CLIENTS concurrent
 * clients within one second, held HOLD_S seconds, then idle until the pool is back at its
 * minimum. Reports failed requests, latency, how long throughput takes to reach its steady
 * level, instances over time, and the return to the minimum after the idle time-to-live.
 * The baseline, in the same run: the handler's own 50 ms, and the throughput CLIENTS clients
 * would get with no overhead at all (CLIENTS / 50 ms).
 * Writes <results>/burst.json and <results>/burst.png.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deleteFunction, deployFunction } from '@thaw/devkit';
import { Agent } from 'undici';
import {
  type Call,
  firstReached,
  perSecond,
  rampSeconds,
  type SecondFigures,
  steadyLevel,
} from '../figures.js';
import type { BenchPlatform } from '../platform.js';
import { Canvas, panel } from '../png.js';
import { envInt, resultsDir } from '../settings.js';
import { percentile, round } from '../stats.js';

export interface BurstSettings {
  clients: number;
  holdS: number;
  idleTtlMs: number;
  resultsDir: string;
}

export function burstSettings(env: NodeJS.ProcessEnv): BurstSettings {
  return {
    clients: envInt(env, 'BENCH_CLIENTS', 64),
    holdS: envInt(env, 'BENCH_HOLD_S', 20),
    idleTtlMs: envInt(env, 'BENCH_IDLE_TTL_MS', 10_000),
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
  idle_ttl_s: number;
  back_to_min_s_after_load: number | null;
  per_second: SecondFigures[];
  instances: { t: number; instances: number; running: number }[];
}

const HANDLER_MS = 50;

export async function runBurst(bench: BenchPlatform, s: BurstSettings): Promise<BurstResult> {
  const { platform } = bench;
  const agent = new Agent({ connections: s.clients * 2, keepAliveTimeout: 30_000 });
  async function pool(): Promise<{ instances: number; running: number }> {
    const res = await fetch(`${platform.gatewayUrl}/v1/functions/burst`, {
      dispatcher: agent,
      headers: { authorization: `Bearer ${platform.token}` },
    } as RequestInit);
    const fn = (await res.json()) as { workers: { instances: { state: string }[]; starting: number }[] };
    let instances = 0;
    let running = 0;
    for (const w of fn.workers) {
      instances += w.instances.length + w.starting;
      running += w.instances.filter((i) => i.state === 'running').length;
    }
    return { instances, running };
  }

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
        idleTtlMs: s.idleTtlMs,
        timeoutMs: 30_000,
      },
      platform.token,
    );
    // The deploy's warm instance ages out first: the burst starts from zero.
    const zeroBy = Date.now() + s.idleTtlMs + 30_000;
    while ((await pool()).instances > 0) {
      if (Date.now() > zeroBy) throw new Error('the pool did not scale to zero before the burst');
      await new Promise((r) => setTimeout(r, 200));
    }
    console.log(`pool at zero; ${s.clients} clients within 1 s, held ${s.holdS} s`);

    const t0 = performance.now();
    const now = () => (performance.now() - t0) / 1000;
    const samples: { t: number; instances: number; running: number }[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const p = await pool();
        samples.push({ t: now(), ...p });
        await new Promise((r) => setTimeout(r, 250));
      }
    })();

    const calls: Call[] = [];
    const url = `${platform.gatewayUrl}/fn/burst/sleep?ms=${HANDLER_MS}`;
    try {
      await Promise.all(
        Array.from({ length: s.clients }, async (_, i) => {
          await new Promise((r) => setTimeout(r, (i * 1000) / s.clients));
          while (now() < s.holdS + 1) {
            const start = now();
            let status = 0;
            try {
              const res = await fetch(url, { dispatcher: agent } as RequestInit);
              await res.arrayBuffer();
              status = res.status;
            } catch {
              status = 0;
            }
            calls.push({ start, end: now(), status });
          }
        }),
      );
    } catch (e) {
      sampling = false;
      await sampler.catch(() => undefined);
      throw e;
    }
    const loadEnd = now();
    // Idle: wait for the pool to return to its minimum (zero).
    let backAtMin: number | undefined;
    while (now() < loadEnd + s.idleTtlMs / 1000 + 60) {
      const last = samples.at(-1);
      if (last && last.t > loadEnd && last.instances === 0) {
        backAtMin = last.t;
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    sampling = false;
    await sampler;

    const ok = calls.filter((c) => c.status === 200);
    if (ok.length === 0) throw new Error(`not one of ${calls.length} calls succeeded`);
    const lat = ok.map((c) => (c.end - c.start) * 1000).sort((a, b) => a - b);
    const seconds = perSecond(calls, Math.ceil(loadEnd));
    const steady = steadyLevel(seconds, s.holdS);
    const maxInstances = Math.max(0, ...samples.map((x) => x.instances));
    const ideal = s.clients * (1000 / HANDLER_MS);
    const out: BurstResult = {
      errors: calls.length - ok.length,
      requests: calls.length,
      p50_ms: round(percentile(lat, 50), 2),
      p99_ms: round(percentile(lat, 99), 2),
      ramp_s: rampSeconds(seconds, steady),
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
      steady_rps: steady,
      ideal_rps: ideal,
      handler_ms: HANDLER_MS,
      idle_ttl_s: s.idleTtlMs / 1000,
      back_to_min_s_after_load: backAtMin === undefined ? null : round(backAtMin - loadEnd, 1),
      per_second: seconds,
      instances: samples.map((x) => ({ t: round(x.t, 2), instances: x.instances, running: x.running })),
    };
    console.log(
      `errors ${out.errors} of ${out.requests}; p50 ${out.p50_ms} ms, p99 ${out.p99_ms} ms (handler ${HANDLER_MS} ms); ` +
        `steady ${steady} req/s of ${ideal} ideal; ramp ${out.ramp_s} s; max instances ${out.max_instances} ` +
        `(at ${out.max_instances_at_s} s, all running at ${out.all_running_at_s} s); ` +
        `back to 0 instances ${out.back_to_min_s_after_load} s after the load (idle TTL ${s.idleTtlMs / 1000} s)`,
    );

    const cv = new Canvas(1000, 720);
    const xMax = Math.max(...samples.map((x) => x.t), loadEnd);
    panel(cv, { x: 80, y: 40, w: 880, h: 270 }, 'instances and requests/s (x 0.1) over time (s)', xMax, [
      { label: 'instances', color: [31, 119, 180], points: samples.map((x) => [x.t, x.instances]) },
      { label: 'running', color: [44, 160, 44], points: samples.map((x) => [x.t, x.running]) },
      { label: 'req/s x 0.1', color: [150, 150, 150], points: seconds.map((p) => [p.t + 0.5, p.rps / 10]) },
    ]);
    panel(cv, { x: 80, y: 400, w: 880, h: 270 }, 'latency (ms) per second of the load', xMax, [
      { label: 'p50', color: [255, 127, 14], points: seconds.map((p) => [p.t + 0.5, p.p50]) },
      { label: 'p99', color: [214, 39, 40], points: seconds.map((p) => [p.t + 0.5, p.p99]) },
    ]);
    await mkdir(s.resultsDir, { recursive: true });
    await writeFile(join(s.resultsDir, 'burst.json'), `${JSON.stringify(out, null, 2)}\n`);
    await writeFile(join(s.resultsDir, 'burst.png'), cv.png());
    console.log(`wrote ${join(s.resultsDir, 'burst.json')} and burst.png`);
    return out;
  } finally {
    await agent.close();
    await deleteFunction(platform.gatewayUrl, 'burst', platform.token).catch(() => undefined);
  }
}
