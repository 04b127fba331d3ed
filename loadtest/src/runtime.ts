/**
 * `runtime` scenario: the embedded runtime's own operations, p50/p99 over RUNS runs each, with
 * `runc pause` / `runc resume` on the same containers as the baseline for freeze and thaw.
 * Writes loadtest/results/runtime.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Container, ImageStore, Runtime, type StoredImage, scratchRuntimeOptions } from '@thaw/runtime';
import { buildTestImage } from '@thaw/runtime/testimages';
import { type Summary, summarize } from './stats.js';

const runs = Number(process.env.BENCH_RUNS ?? 50);
const results = fileURLToPath(new URL('../results/', import.meta.url));
const opts = scratchRuntimeOptions('rtbench');
/**
 * One keep-alive connection per container, speaking just enough HTTP/1.1 for node-hello's
 * answers (content-length bodies): an HTTP client library would cost more than a thaw, and
 * this measures the container, not the client.
 */
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
        const end = this.buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = Number(/content-length: (\d+)/i.exec(this.buf.slice(0, end))?.[1] ?? 0);
        if (this.buf.length < end + 4 + len) return;
        const status = Number(this.buf.slice(9, 12));
        this.buf = this.buf.slice(end + 4 + len);
        this.waiter?.(status);
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

const clients = new Map<Container, RawClient>();
function get(c: Container): Promise<number> {
  let client = clients.get(c);
  if (!client) {
    client = new RawClient(c);
    clients.set(c, client);
  }
  return client.get();
}

async function time(fn: () => unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

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
    for (let i = 0; i < runs; i++) {
      let c: Container | undefined;
      add(
        op,
        await time(async () => {
          c = await runtime.create({ image: images[name] as StoredImage, port: 8080 });
          if ((await get(c)) !== 200) throw new Error('first request failed');
        }),
      );
      if (c) made.push(c);
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
    for (const client of clients.values()) client.close();
    clients.clear();
    for (const c of made) add('destroy', await time(() => c.destroy()));
  }

  const out: Record<string, Summary> = {};
  for (const [op, xs] of Object.entries(samples)) out[op] = summarize(xs);
  for (const [op, s] of Object.entries(out)) {
    console.log(
      `${op.padEnd(22)} p50 ${s.p50_ms.toFixed(3).padStart(9)} ms   p99 ${s.p99_ms.toFixed(3).padStart(9)} ms   n ${s.n}`,
    );
  }
  await mkdir(results, { recursive: true });
  await writeFile(join(results, 'runtime.json'), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote ${join(results, 'runtime.json')}`);
} finally {
  await runtime.close();
  await rm(opts.stateDir, { recursive: true, force: true });
  await rm(opts.runDir, { recursive: true, force: true });
}
