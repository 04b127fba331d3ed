/**
 * `burst` scenario: a function with a 50 ms handler and no minimum; 0 → CLIENTS concurrent
 * clients within one second, held HOLD_S seconds, then idle until the pool is back at its
 * minimum. Reports failed requests, latency, how long throughput takes to reach its steady
 * level, instances over time, and the return to the minimum after the idle time-to-live.
 * The baseline, in the same run: the handler's own 50 ms, and the throughput CLIENTS clients
 * would get with no overhead at all (CLIENTS / 50 ms).
 * Writes loadtest/results/burst.json and loadtest/results/burst.png.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deployFunction, startPlatform, uploadImage, workerEnvFor } from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { buildTestImage } from '@thaw/runtime/testimages';
import { Agent } from 'undici';
import { Canvas, panel } from './png.js';
import { percentile } from './stats.js';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 64);
const HOLD_S = Number(process.env.BENCH_HOLD_S ?? 20);
const IDLE_TTL_MS = Number(process.env.BENCH_IDLE_TTL_MS ?? 10_000);
const HANDLER_MS = 50;
const results = fileURLToPath(new URL('../results/', import.meta.url));
const rt = scratchRuntimeOptions('burst');

interface Call {
  start: number;
  end: number;
  status: number;
}

const platform = await startPlatform({
  gatewayPort: 0,
  prefix: 'burst',
  logs: 'buffer',
  logLevel: 'warn',
  workerEnv: { ...workerEnvFor(rt), THAW_SUBNET: '10.232.0.0/16' },
});
const agent = new Agent({ connections: CLIENTS * 2, keepAliveTimeout: 30_000 });

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
  const image = await buildTestImage('node-hello', 'oci', join(rt.stateDir, 'archives'));
  const { digest } = await uploadImage(platform.gatewayUrl, image.path, platform.token);
  await deployFunction(
    platform.gatewayUrl,
    {
      name: 'burst',
      image: digest,
      minInstances: 0,
      maxInstances: CLIENTS,
      concurrency: 1,
      idleTtlMs: IDLE_TTL_MS,
      timeoutMs: 30_000,
    },
    platform.token,
  );
  // The deploy's warm instance ages out first: the burst starts from zero.
  const zeroBy = Date.now() + IDLE_TTL_MS + 30_000;
  while ((await pool()).instances > 0) {
    if (Date.now() > zeroBy) throw new Error('the pool did not scale to zero before the burst');
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log(`pool at zero; ${CLIENTS} clients within 1 s, held ${HOLD_S} s`);

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
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, i) => {
      await new Promise((r) => setTimeout(r, (i * 1000) / CLIENTS));
      while (now() < HOLD_S + 1) {
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
  const loadEnd = now();
  // Idle: wait for the pool to return to its minimum (zero).
  let backAtMin: number | undefined;
  while (now() < loadEnd + IDLE_TTL_MS / 1000 + 60) {
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
  const lat = ok.map((c) => (c.end - c.start) * 1000).sort((a, b) => a - b);
  const seconds = Math.ceil(loadEnd);
  const perSecond = Array.from(
    { length: seconds },
    (_, s) => {
      const done = calls.filter((c) => c.end >= s && c.end < s + 1);
      const l = done.map((c) => (c.end - c.start) * 1000).sort((a, b) => a - b);
      return {
        t: s,
        rps: done.length,
        p50: l.length ? percentile(l, 50) : 0,
        p99: l.length ? percentile(l, 99) : 0,
      };
    },
    platform.token,
  );
  // Steady level: the median throughput of the second half of the hold.
  const tail = perSecond
    .filter((p) => p.t >= HOLD_S / 2 && p.t < HOLD_S)
    .map((p) => p.rps)
    .sort((a, b) => a - b);
  const steady = tail[Math.floor(tail.length / 2)] ?? 0;
  const reached = perSecond.find((p) => p.rps >= 0.9 * steady);
  const ideal = CLIENTS * (1000 / HANDLER_MS);
  const out = {
    errors: calls.length - ok.length,
    requests: calls.length,
    p50_ms: Math.round(percentile(lat, 50) * 100) / 100,
    p99_ms: Math.round(percentile(lat, 99) * 100) / 100,
    ramp_s: reached ? reached.t + 1 : null,
    max_instances: Math.max(0, ...samples.map((s) => s.instances)),
    steady_rps: steady,
    ideal_rps: ideal,
    handler_ms: HANDLER_MS,
    idle_ttl_s: IDLE_TTL_MS / 1000,
    back_to_min_s_after_load: backAtMin === undefined ? null : Math.round((backAtMin - loadEnd) * 10) / 10,
    per_second: perSecond,
    instances: samples.map((s) => ({
      t: Math.round(s.t * 100) / 100,
      instances: s.instances,
      running: s.running,
    })),
  };
  console.log(
    `errors ${out.errors} of ${out.requests}; p50 ${out.p50_ms} ms, p99 ${out.p99_ms} ms (handler ${HANDLER_MS} ms); ` +
      `steady ${steady} req/s of ${ideal} ideal; ramp ${out.ramp_s} s; max instances ${out.max_instances}; ` +
      `back to 0 instances ${out.back_to_min_s_after_load} s after the load (idle TTL ${IDLE_TTL_MS / 1000} s)`,
  );

  const cv = new Canvas(1000, 720);
  const xMax = Math.max(...samples.map((s) => s.t), loadEnd);
  panel(cv, { x: 80, y: 40, w: 880, h: 270 }, 'instances and requests/s (x 0.1) over time (s)', xMax, [
    { label: 'instances', color: [31, 119, 180], points: samples.map((s) => [s.t, s.instances]) },
    { label: 'running', color: [44, 160, 44], points: samples.map((s) => [s.t, s.running]) },
    { label: 'req/s x 0.1', color: [150, 150, 150], points: perSecond.map((p) => [p.t + 0.5, p.rps / 10]) },
  ]);
  panel(cv, { x: 80, y: 400, w: 880, h: 270 }, 'latency (ms) per second of the load', xMax, [
    { label: 'p50', color: [255, 127, 14], points: perSecond.map((p) => [p.t + 0.5, p.p50]) },
    { label: 'p99', color: [214, 39, 40], points: perSecond.map((p) => [p.t + 0.5, p.p99]) },
  ]);
  await mkdir(results, { recursive: true });
  await writeFile(join(results, 'burst.json'), `${JSON.stringify(out, null, 2)}\n`);
  await writeFile(join(results, 'burst.png'), cv.png());
  console.log(`wrote ${join(results, 'burst.json')} and burst.png`);
} finally {
  await agent.close();
  await platform.close();
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
}
