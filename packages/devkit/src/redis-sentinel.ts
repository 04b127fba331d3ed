import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const INFRA = fileURLToPath(new URL('../../../infra/redis/', import.meta.url));
const run = promisify(execFile);

/** How long the set may take to be usable: servers up, replica in sync, sentinels acquainted. */
const READY_TIMEOUT_MS = 30_000;
/** How long a stopped server gets to exit before SIGKILL. */
const STOP_GRACE_MS = 5000;

export interface RedisSentinelOptions {
  /** The servers' password (requirepass / masterauth; the gateway's REDIS_PASSWORD). */
  password: string;
  /** The sentinels' own password (the gateway's REDIS_SENTINEL_PASSWORD). */
  sentinelPassword: string;
  /** Name the sentinels monitor the primary under ("thaw" by default). */
  masterName?: string;
}

/** One redis-server or redis-sentinel process of the set. */
export interface RedisNode {
  readonly role: 'primary' | 'replica' | 'sentinel';
  readonly port: number;
  readonly process: ChildProcess;
}

/** A Redis primary, one replica and three sentinels, run from infra/redis's configs. */
export interface RedisSentinelSet {
  /** The gateway's REDIS_SENTINELS: "127.0.0.1:port,..." */
  readonly sentinels: string;
  readonly masterName: string;
  readonly nodes: readonly RedisNode[];
  /** The primary's port as a sentinel names it now (it changes with a failover). */
  primaryPort(): Promise<number>;
  /** The server (primary or replica at start) listening on `port`. */
  server(port: number): RedisNode;
  /** Stops every process and removes the folder. */
  close(): Promise<void>;
}

/** Fills in a template's ${NAME}s; a name without a value is an error, not an empty string. */
export function renderConfig(template: string, values: Record<string, string | number>): string {
  return template.replace(/\$\{([A-Z_]+)\}/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`config template names \${${name}}, which has no value`);
    return String(v);
  });
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

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function stop(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  if (await Promise.race([gone.then(() => true), sleep(STOP_GRACE_MS).then(() => false)])) return;
  child.kill('SIGKILL');
  await gone;
}

/** Asks one server or sentinel, through Debian's redis-cli (so devkit needs no Redis client). */
async function cli(port: number, password: string, args: string[]): Promise<string> {
  const { stdout } = await run(
    'redis-cli',
    ['-h', '127.0.0.1', '-p', String(port), '--no-auth-warning', '-a', password, ...args],
    { timeout: 5000 },
  );
  return stdout.trim();
}

/**
 * Starts a primary, its replica and 3 sentinels (Debian's redis-server and redis-sentinel) on
 * free ports of 127.0.0.1, from infra/redis/{redis,replica,sentinel}.conf, and waits until the
 * sentinels could fail over (SENTINEL CKQUORUM) and the replica is in sync.
 */
export async function startRedisSentinel(o: RedisSentinelOptions): Promise<RedisSentinelSet> {
  const masterName = o.masterName ?? 'thaw';
  const dir = await mkdtemp(join(tmpdir(), 'thaw-sentinel-'));
  const nodes: RedisNode[] = [];
  const logs = new Map<ChildProcess, string>();
  const close = async () => {
    for (const n of [...nodes].reverse()) await stop(n.process);
    await rm(dir, { recursive: true, force: true });
  };
  const launch = async (role: RedisNode['role'], bin: string, conf: string, port: number) => {
    const child = spawn(bin, [conf], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    logs.set(child, '');
    const keep = (b: Buffer) => logs.set(child, ((logs.get(child) ?? '') + b.toString()).slice(-4096));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    await new Promise<void>((resolve, reject) => {
      child.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'ENOENT'
            ? new Error(
                `${bin} is not installed: run "bash infra/setup.sh" (Debian's redis and redis-sentinel)`,
              )
            : err,
        ),
      );
      child.once('spawn', () => resolve());
    });
    nodes.push({ role, port, process: child });
  };
  try {
    const [redisT, replicaT, sentinelT] = await Promise.all(
      ['redis.conf', 'replica.conf', 'sentinel.conf'].map((f) => readFile(join(INFRA, f), 'utf8')),
    );
    const primaryPort = await freePort();
    const server = async (role: 'primary' | 'replica', port: number) => {
      const data = join(dir, `${role}-${port}`);
      await mkdir(data);
      const conf = join(data, 'redis.conf');
      const values = {
        REDIS_BIND: '127.0.0.1',
        REDIS_PORT: port,
        REDIS_DIR: data,
        REDIS_PASSWORD: o.password,
      };
      await writeFile(conf, renderConfig(redisT ?? '', values));
      if (role === 'primary') return conf;
      const replica = join(data, 'replica.conf');
      await writeFile(
        replica,
        renderConfig(replicaT ?? '', {
          REDIS_CONF: conf,
          REDIS_PRIMARY_HOST: '127.0.0.1',
          REDIS_PRIMARY_PORT: primaryPort,
        }),
      );
      return replica;
    };
    await launch('primary', 'redis-server', await server('primary', primaryPort), primaryPort);
    const replicaPort = await freePort();
    await launch('replica', 'redis-server', await server('replica', replicaPort), replicaPort);
    const sentinelPorts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const data = join(dir, `sentinel-${port}`);
      await mkdir(data);
      const conf = join(data, 'sentinel.conf');
      await writeFile(
        conf,
        renderConfig(sentinelT ?? '', {
          SENTINEL_BIND: '127.0.0.1',
          SENTINEL_PORT: port,
          SENTINEL_DIR: data,
          REDIS_MASTER_NAME: masterName,
          REDIS_PRIMARY_HOST: '127.0.0.1',
          REDIS_PRIMARY_PORT: primaryPort,
          REDIS_PASSWORD: o.password,
          SENTINEL_PASSWORD: o.sentinelPassword,
        }),
      );
      await launch('sentinel', 'redis-sentinel', conf, port);
      sentinelPorts.push(port);
    }
    const set: RedisSentinelSet = {
      sentinels: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','),
      masterName,
      nodes,
      async primaryPort() {
        // Any sentinel that answers: one may be the thing a test stopped.
        for (const p of sentinelPorts) {
          const out = await cli(p, o.sentinelPassword, [
            'SENTINEL',
            'get-master-addr-by-name',
            masterName,
          ]).catch(() => '');
          const port = Number(out.split('\n')[1]);
          if (port) return port;
        }
        throw new Error('no sentinel names a primary');
      },
      server(port) {
        const n = nodes.find((x) => x.port === port && x.role !== 'sentinel');
        if (!n) throw new Error(`no Redis server of this set listens on ${port}`);
        return n;
      },
      close,
    };
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      const dead = nodes.find((n) => exited(n.process));
      if (dead) throw new Error(`${dead.role} on port ${dead.port} exited:\n${logs.get(dead.process)}`);
      const quorum = await Promise.all(
        sentinelPorts.map((p) =>
          cli(p, o.sentinelPassword, ['SENTINEL', 'ckquorum', masterName]).catch(() => ''),
        ),
      );
      const link = await cli(replicaPort, o.password, ['INFO', 'replication']).catch(() => '');
      // "3 usable Sentinels": each one knows the two others, so any two can fail over.
      if (quorum.every((q) => q.startsWith('OK 3 usable')) && link.includes('master_link_status:up')) break;
      if (Date.now() > deadline) {
        throw new Error(
          `the sentinel set did not get ready within ${READY_TIMEOUT_MS} ms: ${quorum.join(' | ')}\n${nodes
            .map((n) => `--- ${n.role} ${n.port}\n${logs.get(n.process)}`)
            .join('\n')}`,
        );
      }
      await sleep(200);
    }
    return set;
  } catch (err) {
    await close();
    throw err;
  }
}
