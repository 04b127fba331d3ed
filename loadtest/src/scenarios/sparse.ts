/**
 * `sparse` scenario: calls far enough apart that every one finds the function's instance frozen
 * (the worker's FREEZE_AFTER_MS is 100 ms by default). Three paths take turns, one call every
 * `spacingMs`: through the gateway (`/fn/<name>/...`, a thaw each time), direct to a running
 * container of the same image (the floor of an idle HTTP round trip), and the gateway's
 * `/healthz` (the gateway's own idle wake-up, without NATS or a worker). Writes
 * <results>/sparse.json.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { deleteFunction, deployFunction } from '@thaw/devkit';
import {
  type Container,
  ImageStore,
  Runtime,
  type RuntimeOptions,
  scratchRuntimeOptions,
} from '@thaw/runtime';
import { buildTestImage } from '@thaw/runtime/testimages';
import { writeChart } from '../charts/render.js';
import { sparseChart } from '../charts/sparse.js';
import { takeResponse } from '../http1.js';
import type { BenchPlatform } from '../platform.js';
import { envInt, resultsDir } from '../settings.js';
import { median, ratio, round, type Summary, summarize } from '../stats.js';

export interface SparseSettings {
  /** Calls per path. */
  calls: number;
  /** Time between two consecutive calls (of any path); each path's own calls are 3× apart. */
  spacingMs: number;
  resultsDir: string;
}

/** 250 ms: well past the worker's 100 ms freeze-after, so each gateway call thaws. */
export const SPARSE_SPACING_MS = 250;
const SERVER_TIMING = /^server-timing:[ \t]*(.*?)[ \t]*$/im;
/** A call that has no answer by then counts as an error (a hung path must not hang the run). */
const CALL_TIMEOUT_MS = 10_000;

export function sparseSettings(env: NodeJS.ProcessEnv): SparseSettings {
  return {
    calls: envInt(env, 'BENCH_SPARSE_CALLS', 200),
    spacingMs: envInt(env, 'BENCH_SPARSE_SPACING_MS', SPARSE_SPACING_MS),
    resultsDir: resultsDir(env),
  };
}

export type SparsePath = 'gateway' | 'direct' | 'healthz';
export type SparseResult = Record<SparsePath, Summary & { errors: number }> & {
  /** Median ms of each phase of the gateway's calls, when it ran with THAW_TIMINGS=1. */
  gateway_phases?: Record<string, number>;
};

/** Median of each `name;dur=ms` span over the Server-Timing headers of the calls. */
export function phaseMedians(headers: string[]): Record<string, number> {
  const spans: Record<string, number[]> = {};
  for (const h of headers) {
    for (const m of h.matchAll(/([\w-]+);dur=([\d.]+)/g)) {
      const [, name, dur] = m;
      if (!name || !dur) continue;
      spans[name] ??= [];
      spans[name].push(Number(dur));
    }
  }
  return Object.fromEntries(Object.entries(spans).map(([k, v]) => [k, round(median(v), 3)]));
}

/**
 * One keep-alive connection, one request at a time, Nagle off: the same minimal client for the
 * three paths, so their difference is the server side. A connection that fails is made anew
 * on the next call.
 */
class OneConnection {
  private sock: Socket | undefined;
  private buf = '';
  /** The last answer's Server-Timing header (a gateway with THAW_TIMINGS=1 sends one). */
  timing: string | undefined;
  private waiter: { resolve: (status: number) => void; reject: (e: Error) => void } | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly path: string,
  ) {}

  private open(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const sock = connect({ host: this.host, port: this.port, noDelay: true }, () => resolve(sock));
      sock.on('error', (e) => {
        reject(e);
        this.drop(e);
      });
      sock.on('close', () => this.drop(new Error('connection closed')));
      sock.on('data', (d: Buffer) => {
        this.buf += d.toString('latin1');
        const r = takeResponse(this.buf);
        if (!r) return;
        this.timing = SERVER_TIMING.exec(this.buf.slice(0, this.buf.indexOf('\r\n\r\n')))?.[1];
        this.buf = r.rest;
        const w = this.waiter;
        this.waiter = undefined;
        w?.resolve(r.status);
      });
    });
  }

  private drop(e: Error): void {
    this.sock?.destroy();
    this.sock = undefined;
    this.buf = '';
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(e);
  }

  /** The status of one GET, and how long it took from write to the whole answer. */
  async get(): Promise<{ status: number; ms: number }> {
    this.sock ??= await this.open();
    const sock = this.sock;
    const answered = new Promise<number>((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
    const timer = setTimeout(() => this.drop(new Error('no answer in time')), CALL_TIMEOUT_MS);
    const t0 = performance.now();
    sock.write(`GET ${this.path} HTTP/1.1\r\nHost: bench\r\n\r\n`);
    try {
      const status = await answered;
      return { status, ms: performance.now() - t0 };
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.drop(new Error('closed'));
  }
}

/** A node-hello container of a runtime of its own, never frozen: the direct baseline. */
async function directContainer(rt: RuntimeOptions): Promise<{ c: Container; close: () => Promise<void> }> {
  const { runtime } = await Runtime.open(rt);
  const close = async () => {
    await runtime.close();
    await rm(rt.stateDir, { recursive: true, force: true });
    await rm(rt.runDir, { recursive: true, force: true });
  };
  try {
    const built = await buildTestImage('node-hello', 'oci', join(rt.stateDir, 'archives'));
    const image = await new ImageStore(join(rt.stateDir, 'images')).importArchive(built.path);
    return { c: await runtime.create({ image, port: 8080 }), close };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * `directRt`: the scratch runtime of the direct baseline's container (made here when not
 * given); its container and folders are removed before this returns.
 */
export async function runSparse(
  bench: BenchPlatform,
  s: SparseSettings,
  directRt: RuntimeOptions = scratchRuntimeOptions('ltsparsed'),
): Promise<SparseResult> {
  const { platform } = bench;
  const digest = await bench.image('node-hello');
  await deployFunction(
    platform.gatewayUrl,
    { name: 'sparse', image: digest, maxInstances: 1 },
    platform.token,
  );
  const direct = await directContainer(directRt);
  const gw = new URL(platform.gatewayUrl);
  const clients: Record<SparsePath, OneConnection> = {
    gateway: new OneConnection(gw.hostname, Number(gw.port), '/fn/sparse/bench'),
    direct: new OneConnection(direct.c.ip, direct.c.port, '/bench'),
    healthz: new OneConnection(gw.hostname, Number(gw.port), '/healthz'),
  };
  const samples: Record<SparsePath, number[]> = { gateway: [], direct: [], healthz: [] };
  const errors: Record<SparsePath, number> = { gateway: 0, direct: 0, healthz: 0 };
  const paths = Object.keys(clients) as SparsePath[];
  const timings: string[] = [];
  try {
    // One unmeasured call each: connections open, the instance placed, handlers compiled.
    for (const p of paths) await clients[p].get();
    for (let i = 0; i < s.calls; i++) {
      for (const p of paths) {
        await sleep(s.spacingMs);
        try {
          const r = await clients[p].get();
          if (r.status === 200) samples[p].push(r.ms);
          else errors[p]++;
          const timing = clients[p].timing;
          if (p === 'gateway' && timing) timings.push(timing);
        } catch {
          errors[p]++;
        }
      }
    }
  } finally {
    for (const c of Object.values(clients)) c.close();
    await direct.close();
  }
  await deleteFunction(platform.gatewayUrl, 'sparse', platform.token);

  const out = {} as SparseResult;
  for (const p of paths) {
    if (samples[p].length === 0) throw new Error(`${p}: every one of ${s.calls} calls failed`);
    out[p] = { ...summarize(samples[p]), errors: errors[p] };
    const v = out[p];
    console.log(
      `${p.padEnd(8)} p50 ${v.p50_ms.toFixed(3)} ms  p99 ${v.p99_ms.toFixed(3)} ms  n ${v.n}  errors ${v.errors}`,
    );
  }
  if (timings.length > 0) {
    out.gateway_phases = phaseMedians(timings);
    console.log(`gateway phases (median ms): ${JSON.stringify(out.gateway_phases)}`);
  }
  console.log(`gateway/direct p50 ratio: ${ratio(out.gateway.p50_ms, out.direct.p50_ms).toFixed(2)}x`);
  await mkdir(s.resultsDir, { recursive: true });
  await writeFile(join(s.resultsDir, 'sparse.json'), `${JSON.stringify(out, null, 2)}\n`);
  await writeChart(s.resultsDir, 'sparse', sparseChart(out));
  console.log(`wrote ${join(s.resultsDir, 'sparse.json')}, sparse.svg and sparse.png`);
  return out;
}
