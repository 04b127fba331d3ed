import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A server process started for a run or a test; `close()` stops it and removes its data. */
export interface Service {
  readonly url: string;
  readonly process: ChildProcess;
  close(): Promise<void>;
}

export interface ServiceOptions {
  /** Folder for the server's data; a temporary folder (removed on close) when absent. */
  dataDir?: string;
  /** Fixed port; a free random one when absent. */
  port?: number;
  /** Address to listen on (127.0.0.1 by default; 0.0.0.0 for workers in other namespaces). */
  listen?: string;
  /** nats-server only: its max_payload setting (default 8MB). */
  maxPayload?: string;
  /**
   * Its own process group, so that a Ctrl-C reaching the terminal's group does not stop it
   * before the processes that use it have drained (the caller stops it, last).
   */
  ownGroup?: boolean;
}

function missing(bin: string): Error {
  return new Error(
    `${bin} is not installed: run "bash infra/setup.sh" (it installs the Debian packages thaw needs)`,
  );
}

async function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return await Promise.race([
    new Promise<boolean>((resolve) => child.once('exit', () => resolve(true))),
    sleep(ms).then(() => false),
  ]);
}

function start(
  bin: string,
  args: string[],
  dir: string,
  ownGroup = false,
): { child: ChildProcess; output: () => string } {
  const child = spawn(bin, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached: ownGroup });
  let out = '';
  const keep = (b: Buffer) => {
    out = (out + b.toString()).slice(-8192);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, output: () => out };
}

function makeCloser(child: ChildProcess, dir: string, ownDir: boolean): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= (async () => {
      child.kill('SIGTERM');
      if (!(await waitExit(child, 5000))) {
        child.kill('SIGKILL');
        await waitExit(child, 5000);
      }
      if (ownDir) await rm(dir, { recursive: true, force: true });
    })();
    return closing;
  };
}

async function spawnFailed(bin: string, child: ChildProcess): Promise<Error | undefined> {
  return await new Promise((resolve) => {
    child.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ENOENT' ? missing(bin) : err));
    child.once('spawn', () => resolve(undefined));
  });
}

/** Starts nats-server with JetStream on 127.0.0.1 (port -1 and a ports file, as nats.js's own launcher does). */
export async function startNats(opts: ServiceOptions = {}): Promise<Service> {
  const ownDir = !opts.dataDir;
  const dir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'thaw-nats-')));
  // 8 MB so a 6 MiB body plus headers fits in one message.
  await writeFile(join(dir, 'nats.conf'), `max_payload: ${opts.maxPayload ?? '8MB'}\n`);
  const args = [
    '-c',
    'nats.conf',
    '-a',
    opts.listen ?? '127.0.0.1',
    '-p',
    String(opts.port ?? -1),
    '-js',
    '-sd',
    join(dir, 'js'),
  ];
  args.push('--ports_file_dir', dir);
  const { child, output } = start('nats-server', args, dir, opts.ownGroup);
  const close = makeCloser(child, dir, ownDir);
  const failed = await spawnFailed('nats-server', child);
  if (failed) {
    await close();
    throw failed;
  }
  // nats-server names its ports file by its pid; one a killed server left names a dead port.
  const own = `_${child.pid}.ports`;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    const files = (await readdir(dir)).filter((f) => f.endsWith('.ports'));
    const file = files.find((f) => f.endsWith(own));
    // Read while being written: an empty or partial file is read again on the next turn.
    const ports = file
      ? (safeJson(await readFile(join(dir, file), 'utf8').catch(() => '')) as { nats?: string[] } | undefined)
      : undefined;
    const url = ports?.nats?.[0];
    if (url) {
      await removeStalePortsFiles(dir, files);
      return { url, process: child, close };
    }
    await sleep(20);
  }
  await close();
  throw new Error(`nats-server did not start:\n${output()}`);
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the ports files of servers that no longer run, so no reader can take them. */
async function removeStalePortsFiles(dir: string, files: string[]): Promise<void> {
  for (const f of files) {
    const pid = Number(/_(\d+)\.ports$/.exec(f)?.[1]);
    if (pid && !alive(pid)) await rm(join(dir, f), { force: true });
  }
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts redis-server on 127.0.0.1 with its data in `dataDir` (append-only file on). */
export async function startRedis(opts: ServiceOptions = {}): Promise<Service> {
  const ownDir = !opts.dataDir;
  const dir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'thaw-redis-')));
  for (let attempt = 0; ; attempt++) {
    const port = opts.port ?? (await freePort());
    const args = [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'yes',
    ];
    const { child, output } = start('redis-server', args, dir, opts.ownGroup);
    const close = makeCloser(child, dir, ownDir);
    const failed = await spawnFailed('redis-server', child);
    if (failed) {
      await close();
      throw failed;
    }
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && child.exitCode === null) {
      if (output().includes('Ready to accept connections')) {
        return { url: `redis://127.0.0.1:${port}`, process: child, close };
      }
      await sleep(20);
    }
    await close();
    // Another process may have taken the free port between probe and bind: try a new one.
    if (attempt >= 3 || opts.port) throw new Error(`redis-server did not start:\n${output()}`);
  }
}

/** Starts Debian's docker-registry (the CNCF distribution registry) on 127.0.0.1, storage in a temp folder. */
export async function startRegistry(opts: ServiceOptions = {}): Promise<Service> {
  const ownDir = !opts.dataDir;
  const dir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'thaw-registry-')));
  for (let attempt = 0; ; attempt++) {
    const port = opts.port ?? (await freePort());
    const config = [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n');
    await writeFile(join(dir, 'config.yml'), config);
    const { child, output } = start('docker-registry', ['serve', join(dir, 'config.yml')], dir);
    const close = makeCloser(child, dir, ownDir);
    const failed = await spawnFailed('docker-registry', child);
    if (failed) {
      await close();
      throw failed;
    }
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && child.exitCode === null) {
      const ok = await fetch(`${url}/v2/`)
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) return { url, process: child, close };
      await sleep(20);
    }
    await close();
    if (attempt >= 3 || opts.port) throw new Error(`docker-registry did not start:\n${output()}`);
  }
}
