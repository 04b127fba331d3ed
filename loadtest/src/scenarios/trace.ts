/**
 * `trace` scenario: a seeded synthetic trace shaped like the Azure Functions statistics
 * (tracegen.ts), ~100 functions of node-hello and busybox-httpd with varied memory limits,
 * played twice at the same worker memory budget, each on a platform of its own:
 *  - `thaw`: the worker's defaults (idle instances frozen and kept while memory allows);
 *  - `fixed`: the peers' fixed keep-alive: the worker never freezes (FREEZE_AFTER_MS=never) and
 *    every function has idleTtlMs = KEEPALIVE real minutes divided by the trace's compression.
 * Cold starts are the worker's own count (starts with reason="request" over invocations).
 * Writes <results>/trace.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deleteFunction, deployFunction } from '@thaw/devkit';
import { Agent } from 'undici';
import { parentMemoryMiB, platformCpuSeconds } from '../cgroup-usage.js';
import { writeChart } from '../charts/render.js';
import { traceChart } from '../charts/trace.js';
import { type BenchPlatform, untilNoInstances, workerSamples } from '../platform.js';
import { cpuPercent } from '../proc.js';
import { type Sample, sumBy, sumOf } from '../promtext.js';
import { envInt, resultsDir } from '../settings.js';
import { percentile, round } from '../stats.js';
import { generateTrace, schedule, type Trace } from '../tracegen.js';

export interface TraceSettings {
  seed: number;
  functions: number;
  wallSeconds: number;
  /** Real minutes the trace stands for: the compression is realMinutes * 60 / wallSeconds. */
  realMinutes: number;
  /** The fixed baseline's keep-alive in real minutes (Lambda and Azure keep ~10–20). */
  keepAliveRealMinutes: number;
  /** The worker's THAW_MEMORY_MIB in both runs. */
  memoryMiB: number;
  maxWallRps: number;
  /** Seconds of the quiet window after the trace, over which idle CPU is measured. */
  quietSeconds: number;
  resultsDir: string;
}

export function traceSettings(env: NodeJS.ProcessEnv): TraceSettings {
  const s: TraceSettings = {
    seed: envInt(env, 'BENCH_TRACE_SEED', 12),
    functions: envInt(env, 'BENCH_TRACE_FUNCTIONS', 100),
    wallSeconds: envInt(env, 'BENCH_TRACE_SECONDS', 180),
    realMinutes: envInt(env, 'BENCH_TRACE_REAL_MINUTES', 120),
    keepAliveRealMinutes: envInt(env, 'BENCH_TRACE_KEEPALIVE_MINUTES', 10),
    memoryMiB: envInt(env, 'BENCH_TRACE_MEMORY_MIB', 2048, 16),
    maxWallRps: envInt(env, 'BENCH_TRACE_MAX_RPS', 4),
    quietSeconds: envInt(env, 'BENCH_TRACE_QUIET_S', 10),
    resultsDir: resultsDir(env),
  };
  return s;
}

export type TracePolicy = 'thaw' | 'fixed';

export interface PolicyFigures {
  cold_pct: number;
  p50_ms: number | null;
  p99_ms: number | null;
  idle_cpu_pct: number;
  mem_mib: number;
}

export interface PolicyDetail {
  calls: number;
  errors: number;
  /** Failed calls by HTTP status ("0": no answer within the call timeout, or no connection). */
  errors_by_status: Record<string, number>;
  invocations: number;
  cold_starts: number;
  /** Started instances by why (refused starts not counted). */
  starts_by_reason: Record<string, number>;
  /** Start attempts by result: ok, or the error code (OVERLOADED: no memory for one). */
  starts_by_result: Record<string, number>;
  removals_by_reason: Record<string, number>;
  wall_s: number;
}

export interface TraceResult {
  thaw: PolicyFigures;
  fixed: PolicyFigures;
  detail: {
    seed: number;
    functions: number;
    wall_s: number;
    real_minutes: number;
    compression: number;
    keep_alive_ms: number;
    memory_budget_mib: number;
    sum_of_limits_mib: number;
    thaw: PolicyDetail;
    fixed: PolicyDetail;
  };
}

/** A fixed keep-alive of `minutes` real minutes, in wall milliseconds of the compressed trace. */
export function keepAliveMs(s: TraceSettings): number {
  const compression = (s.realMinutes * 60) / s.wallSeconds;
  return Math.max(1000, Math.round((s.keepAliveRealMinutes * 60_000) / compression));
}

/**
 * The worker environment of one run: the same budget; the baseline never freezes
 * (FREEZE_AFTER_MS=never: not after a call, nor after a start), so idle instances run until
 * their keep-alive removes them, charged their limit.
 */
export function traceWorkerEnv(policy: TracePolicy, s: TraceSettings): Record<string, string> {
  return {
    THAW_MEMORY_MIB: String(s.memoryMiB),
    START_TIMEOUT_MS: '60000',
    ...(policy === 'fixed' ? { FREEZE_AFTER_MS: 'never' } : {}),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const STARTS = 'thaw_worker_instance_starts_total';
const CALLS = 'thaw_worker_invocations_total';
const REMOVALS = 'thaw_worker_instance_removals_total';
/** A cold start: an instance a call had to start, that started (a refused start is an error). */
const COLD = { reason: 'request', result: 'ok' };
/** Calls that wait longer than this count as errors: a cold start under load takes seconds, not this. */
const CALL_TIMEOUT_MS = 30_000;
/** Removing ~100 functions' instances on a busy 2-core host. */
const GONE_WITHIN_MS = 120_000;

function delta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  return out;
}

const startedBy = (x: Sample[]) =>
  sumBy(
    x.filter((m) => m.labels.result === 'ok'),
    STARTS,
    'reason',
  );

function byStatus(calls: { status: number }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of calls) out[String(c.status)] = (out[String(c.status)] ?? 0) + 1;
  return out;
}

/** One run of the trace on `bench`, whose worker was started with traceWorkerEnv(policy). */
export async function playTrace(
  bench: BenchPlatform,
  trace: Trace,
  policy: TracePolicy,
  s: TraceSettings,
): Promise<{ figures: PolicyFigures; detail: PolicyDetail }> {
  const { platform } = bench;
  const workerPid = platform.worker?.pid;
  if (!workerPid) throw new Error('no worker process');
  const agent = new Agent({ connections: 512, keepAliveTimeout: 30_000 });
  const ttl = keepAliveMs(s);
  try {
    const digests = {
      'node-hello': await bench.image('node-hello'),
      'busybox-httpd': await bench.image('busybox-httpd'),
    };
    for (const f of trace.functions) {
      await deployFunction(
        platform.gatewayUrl,
        {
          name: f.name,
          image: digests[f.image],
          memoryMiB: f.memoryMiB,
          maxInstances: 4,
          timeoutMs: CALL_TIMEOUT_MS,
          ...(policy === 'fixed' ? { idleTtlMs: ttl } : {}),
        },
        platform.token,
      );
    }
    // Each deploy's first instance settles into the state the policy keeps idle instances in
    // (frozen and kept; or running until the keep-alive ends): a long trace's steady state.
    await sleep(ttl + 2000);
    const before = await workerSamples(platform);
    const calls: { ms: number; status: number }[] = [];
    const t0 = performance.now();
    await Promise.all(
      schedule(trace).map(async (c) => {
        await sleep(c.atMs - (performance.now() - t0));
        const start = performance.now();
        let status = 0;
        try {
          const res = await fetch(`${platform.gatewayUrl}/fn/${c.name}/`, {
            dispatcher: agent,
            signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
          } as RequestInit);
          await res.arrayBuffer();
          status = res.status;
        } catch {
          status = 0;
        }
        calls.push({ ms: performance.now() - start, status });
      }),
    );
    const wallS = (performance.now() - t0) / 1000;
    const after = await workerSamples(platform);
    const count = (x: Sample[], name: string, m = {}) => sumOf(x, name, m);
    const coldStarts = count(after, STARTS, COLD) - count(before, STARTS, COLD);
    const invocations = count(after, CALLS) - count(before, CALLS);

    // Quiet: every instance kept as the policy keeps it; the worker and all instances' CPU.
    const c0 = platformCpuSeconds(workerPid, bench.rt.cgroupParent);
    const q0 = performance.now();
    await sleep(s.quietSeconds * 1000);
    const idleCpu = cpuPercent(
      platformCpuSeconds(workerPid, bench.rt.cgroupParent) - c0,
      (performance.now() - q0) / 1000,
    );
    const memMiB = parentMemoryMiB(bench.rt.cgroupParent);

    const ok = calls
      .filter((c) => c.status === 200)
      .map((c) => c.ms)
      .sort((a, b) => a - b);
    const figures: PolicyFigures = {
      cold_pct: invocations > 0 ? round((100 * coldStarts) / invocations, 2) : 0,
      p50_ms: ok.length ? round(percentile(ok, 50), 2) : null,
      p99_ms: ok.length ? round(percentile(ok, 99), 2) : null,
      idle_cpu_pct: idleCpu,
      mem_mib: round(memMiB, 1),
    };
    const detail: PolicyDetail = {
      calls: calls.length,
      errors: calls.length - ok.length,
      errors_by_status: byStatus(calls.filter((c) => c.status !== 200)),
      invocations,
      cold_starts: coldStarts,
      starts_by_reason: delta(startedBy(after), startedBy(before)),
      starts_by_result: delta(sumBy(after, STARTS, 'result'), sumBy(before, STARTS, 'result')),
      removals_by_reason: delta(sumBy(after, REMOVALS, 'reason'), sumBy(before, REMOVALS, 'reason')),
      wall_s: round(wallS, 1),
    };
    console.log(
      `${policy}: ${detail.calls} calls, ${detail.errors} errors; cold ${figures.cold_pct}% (${coldStarts} of ${invocations}); ` +
        `p50 ${figures.p50_ms} ms, p99 ${figures.p99_ms} ms; idle CPU ${idleCpu}% of a core; instances' memory ${figures.mem_mib} MiB`,
    );
    return { figures, detail };
  } finally {
    await agent.close();
    for (const f of trace.functions)
      await deleteFunction(platform.gatewayUrl, f.name, platform.token).catch(() => undefined);
    await untilNoInstances(bench.platform, GONE_WITHIN_MS);
  }
}

/**
 * Both runs, each on a platform `open` starts with the policy's worker environment and closes
 * after; writes trace.json.
 */
export async function runTrace(
  s: TraceSettings,
  open: <T>(
    policy: TracePolicy,
    env: Record<string, string>,
    run: (b: BenchPlatform) => Promise<T>,
  ) => Promise<T>,
): Promise<TraceResult> {
  const trace = generateTrace({
    seed: s.seed,
    functions: s.functions,
    wallSeconds: s.wallSeconds,
    realMinutes: s.realMinutes,
    maxWallRps: s.maxWallRps,
  });
  const sumOfLimits = trace.functions.reduce((n, f) => n + f.memoryMiB, 0);
  console.log(
    `trace: ${trace.functions.length} functions, ${schedule(trace).length} calls in ${s.wallSeconds} s ` +
      `(${s.realMinutes} real minutes, ×${round(trace.compression, 1)}); budget ${s.memoryMiB} MiB ` +
      `of ${sumOfLimits} MiB of limits; fixed keep-alive ${keepAliveMs(s)} ms`,
  );
  const thaw = await open('thaw', traceWorkerEnv('thaw', s), (b) => playTrace(b, trace, 'thaw', s));
  const fixed = await open('fixed', traceWorkerEnv('fixed', s), (b) => playTrace(b, trace, 'fixed', s));
  const out: TraceResult = {
    thaw: thaw.figures,
    fixed: fixed.figures,
    detail: {
      seed: s.seed,
      functions: s.functions,
      wall_s: s.wallSeconds,
      real_minutes: s.realMinutes,
      compression: round(trace.compression, 2),
      keep_alive_ms: keepAliveMs(s),
      memory_budget_mib: s.memoryMiB,
      sum_of_limits_mib: sumOfLimits,
      thaw: thaw.detail,
      fixed: fixed.detail,
    },
  };
  await mkdir(s.resultsDir, { recursive: true });
  await writeFile(join(s.resultsDir, 'trace.json'), `${JSON.stringify(out, null, 2)}\n`);
  await writeChart(s.resultsDir, 'trace', traceChart(out));
  console.log(`wrote ${join(s.resultsDir, 'trace.json')}, trace.svg and trace.png`);
  return out;
}
