/**
 * `runtime` scenario: the embedded runtime's own operations, p50/p99 over RUNS runs each, with
 * `runc pause` / `runc resume` on the same containers as the baseline for freeze and thaw.
 * Writes <results>/runtime.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { type Container, ImageStore, Runtime, type RuntimeOptions, type StoredImage } from '@thaw/runtime';
import { buildTestImage } from '@thaw/runtime/testimages';
import { writeChart } from '../charts/render.js';
import { runtimeChart } from '../charts/runtime.js';
import { takeResponse } from '../http1.js';
import { envInt, resultsDir } from '../settings.js';
import { type Summary, summarize } from '../stats.js';

export interface RuntimeSettings {
  /** Containers made per image; each node-hello one is also frozen and thawed once. */
  runs: number;
  resultsDir: string;
}

export function runtimeSettings(env: NodeJS.ProcessEnv): RuntimeSettings {
  return { runs: envInt(env, 'BENCH_RUNS', 50), resultsDir: resultsDir(env) };
}

/** The operations runtime.json has, each a Summary. */
export const RUNTIME_OPS = [
  'create_ready_node',
  'create_ready_busybox',
  'warm_response',
  'freeze',
  'thaw',
  'thaw_first_response',
  'runc_pause',
  'runc_resume',
  'destroy',
] as const;
export type RuntimeResult = Record<(typeof RUNTIME_OPS)[number], Summary>;

/** One keep-alive connection per container, speaking just enough HTTP/1.1 (see http1.ts). */
class RawClient {
  private sock: Socket | undefined;
  private buf = '';
  private waiter: ((status: number) => void) | undefined;

  constructor(private readonly c: Container) {}

  private connect(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const sock = connect({ host: this.c.ip, port: this.c.port }, () => resolve(sock));
      sock.setNoDelay(true);
      sock.on('error', reject);
      sock.on('data', (d: Buffer) => {
        this.buf += d.toString('latin1');
        const r = takeResponse(this.buf);
        if (!r) return;
        this.buf = r.rest;
        this.waiter?.(r.status);
      });
    });
  }

  async get(): Promise<number> {
    this.sock ??= await this.connect();
    const sock = this.sock;
    return await new Promise((resolve) => {
      this.waiter = resolve;
      sock.write('GET / HTTP/1.1\r\nHost: bench\r\n\r\n');
    });
  }

  close(): void {
    this.sock?.destroy();
  }
}

async function time(fn: () => unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Opens a runtime on `opts`, measures, and closes it (it removes what it made). */
export async function runRuntime(opts: RuntimeOptions, s: RuntimeSettings): Promise<RuntimeResult> {
  const clients = new Map<Container, RawClient>();
  const get = (c: Container): Promise<number> => {
    let client = clients.get(c);
    if (!client) {
      client = new RawClient(c);
      clients.set(c, client);
    }
    return client.get();
  };
  const samples: Record<string, number[]> = {};
  const add = (op: string, ms: number) => {
    samples[op] ??= [];
    samples[op].push(ms);
  };

  const { runtime } = await Runtime.open(opts);
  try {
    const store = new ImageStore(join(opts.stateDir, 'images'));
    const images: Record<string, StoredImage> = {};
    for (const name of ['node-hello', 'busybox-httpd'] as const) {
      const built = await buildTestImage(name, 'oci', join(opts.stateDir, 'archives'));
      images[name] = await store.importArchive(built.path);
    }
    const runc = (cmd: string, id: string) =>
      execFileSync('runc', ['--root', join(opts.runDir, 'runc'), cmd, id]);

    for (const [op, name] of [
      ['create_ready_node', 'node-hello'],
      ['create_ready_busybox', 'busybox-httpd'],
    ] as const) {
      const made: Container[] = [];
      try {
        for (let i = 0; i < s.runs; i++) {
          let c: Container | undefined;
          add(
            op,
            await time(async () => {
              c = await runtime.create({ image: images[name] as StoredImage, port: 8080 });
              made.push(c);
              if ((await get(c)) !== 200) throw new Error('first request failed');
            }),
          );
        }
        if (name === 'node-hello') {
          for (const c of made) {
            // Past the JIT's first passes over the handler, as a warm instance is.
            for (let i = 0; i < 20; i++) await get(c);
            add('warm_response', await time(() => get(c)));
            add('freeze', await time(() => c.freeze()));
            add('thaw', await time(() => c.thaw()));
            await c.freeze();
            add(
              'thaw_first_response',
              await time(async () => {
                c.thaw();
                await get(c);
              }),
            );
            add('runc_pause', await time(() => runc('pause', c.id)));
            add('runc_resume', await time(() => runc('resume', c.id)));
          }
        }
      } finally {
        for (const client of clients.values()) client.close();
        clients.clear();
      }
      for (const c of made) add('destroy', await time(() => c.destroy()));
    }

    const out = {} as RuntimeResult;
    for (const op of RUNTIME_OPS) out[op] = summarize(samples[op] ?? []);
    for (const [op, v] of Object.entries(out)) {
      console.log(
        `${op.padEnd(22)} p50 ${v.p50_ms.toFixed(3).padStart(9)} ms   p99 ${v.p99_ms.toFixed(3).padStart(9)} ms   n ${v.n}`,
      );
    }
    await mkdir(s.resultsDir, { recursive: true });
    await writeFile(join(s.resultsDir, 'runtime.json'), `${JSON.stringify(out, null, 2)}\n`);
    await writeChart(s.resultsDir, 'runtime', runtimeChart(out));
    console.log(`wrote ${join(s.resultsDir, 'runtime.json')}, runtime.svg and runtime.png`);
    return out;
  } finally {
    await runtime.close();
    await rm(opts.stateDir, { recursive: true, force: true });
    await rm(opts.runDir, { recursive: true, force: true });
  }
}
