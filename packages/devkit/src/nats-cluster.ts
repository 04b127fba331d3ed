import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
/** The deployment's own configuration (docs/nats-cluster.md): the tests run what the docs install. */
export const NATS_CONF = join(REPO, 'infra/nats/nats.conf');
export const NATS_TLS_CONF = join(REPO, 'infra/nats/nats-tls.conf');

const CLIENT_PORT = 4222;
const ROUTE_PORT = 6222;
const MONITOR_PORT = 8222;
/** A cluster is ready when every node's /healthz says JetStream is current: a fresh one elects in ~2 s. */
const READY_MS = 30_000;
const STOP_MS = 5000;

export interface NatsClusterOptions {
  /** Nodes (default 3). */
  nodes?: number;
  /**
   * TLS for clients (infra/nats/nats-tls.conf): given the nodes' IPs (chosen here), makes the
   * certificate and key the nodes serve, valid for every one of those IPs.
   */
  tls?: (ips: string[]) => Promise<{ certFile: string; keyFile: string }>;
  /** Passwords of the gateway and worker users; random when absent. */
  gatewayPassword?: string;
  workerPassword?: string;
}

export interface NatsNode {
  /** server_name, unique in the cluster. */
  readonly name: string;
  readonly ip: string;
  readonly netns: string;
  /** nats:// URL of its client port (clients upgrade to TLS when the node requires it). */
  readonly url: string;
  readonly process: ChildProcess;
  /** Last lines it printed. */
  output(): string;
  /** SIGKILL: the node is lost mid-flight, as when its host dies. */
  kill(): Promise<void>;
  /** Starts it again with the same store (it catches up from the others). */
  start(): Promise<void>;
}

export interface NatsCluster {
  readonly nodes: readonly NatsNode[];
  /** Every node's client URL, comma-separated: a NATS_URL value. */
  readonly url: string;
  /** The bridge's IP: what the nodes see as the address of this machine. */
  readonly hostIp: string;
  readonly gateway: { user: string; password: string };
  readonly worker: { user: string; password: string };
  /** NATS_URL/NATS_USER/NATS_PASSWORD for a gateway or a worker. */
  envFor(component: 'gateway' | 'worker'): Record<string, string>;
  /** Resolves once every running node reports JetStream healthy. */
  ready(): Promise<void>;
  /** Stops the nodes and removes their namespaces, veths, bridge and folders. */
  close(): Promise<void>;
}

/** A string as nats-server's config reads it (its quoted strings take JSON's escapes). */
const q = (v: string) => JSON.stringify(v);

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function quiet(cmd: string, args: string[]): void {
  try {
    sh(cmd, args);
  } catch {
    // already gone
  }
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return Promise.race([
    new Promise<boolean>((r) => child.once('exit', () => r(true))),
    sleep(ms).then(() => false),
  ]);
}

/** A /24 under 10.252.0.0/16 that no route of this machine uses yet. */
function freeSubnet(): string {
  const routes = execFileSync('ip', ['route'], { encoding: 'utf8' });
  for (let i = 0; i < 64; i++) {
    const net = `10.252.${randomInt(0, 256)}`;
    if (!routes.includes(`${net}.`)) return net;
  }
  throw new Error('no free /24 under 10.252.0.0/16 for a NATS cluster');
}

/**
 * An N-node nats-server cluster started from infra/nats/nats.conf, each node in a network
 * namespace of its own (a veth to a bridge of this cluster), so that killing one is losing a
 * host: its addresses stop answering. The machine reaches the nodes over the bridge, and
 * workers in namespaces of their own (hosts.ts) through the machine's routing.
 */
export async function startNatsCluster(o: NatsClusterOptions = {}): Promise<NatsCluster> {
  const count = o.nodes ?? 3;
  const hex = randomBytes(3).toString('hex');
  const bridge = `th${hex}`;
  const net = freeSubnet();
  const hostIp = `${net}.1`;
  const dir = await mkdtemp(join(tmpdir(), 'thaw-natscl-'));
  const routePassword = randomBytes(12).toString('hex');
  const gateway = { user: 'gateway', password: o.gatewayPassword ?? randomBytes(12).toString('hex') };
  const worker = { user: 'worker', password: o.workerPassword ?? randomBytes(12).toString('hex') };
  const specs = Array.from({ length: count }, (_, i) => ({
    name: `n${i + 1}`,
    ip: `${net}.${i + 10}`,
    netns: `thaw-nats${i + 1}-${hex}`,
    veth: `te${hex.slice(0, 4)}${i.toString(16).padStart(2, '0')}`,
  }));
  const nodes: NatsNode[] = [];

  const close = async () => {
    await Promise.all(
      nodes.map(async (n) => {
        if (n.process.exitCode !== null || n.process.signalCode !== null) return;
        n.process.kill('SIGTERM');
        if (!(await exited(n.process, STOP_MS))) await n.kill();
      }),
    );
    for (const s of specs) quiet('ip', ['netns', 'delete', s.netns]);
    quiet('ip', ['link', 'delete', bridge]);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    sh('ip', ['link', 'add', bridge, 'type', 'bridge']);
    sh('ip', ['addr', 'add', `${hostIp}/24`, 'dev', bridge]);
    sh('ip', ['link', 'set', bridge, 'up']);
    for (const s of specs) {
      sh('ip', ['netns', 'add', s.netns]);
      sh('ip', ['link', 'add', s.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', s.netns]);
      sh('ip', ['link', 'set', s.veth, 'master', bridge, 'up']);
      const inNs = (args: string[]) => sh('ip', ['-n', s.netns, ...args]);
      inNs(['link', 'set', 'lo', 'up']);
      inNs(['addr', 'add', `${s.ip}/24`, 'dev', 'eth0']);
      inNs(['link', 'set', 'eth0', 'up']);
      inNs(['route', 'add', 'default', 'via', hostIp]);
    }
    const tls = o.tls ? await o.tls(specs.map((s) => s.ip)) : undefined;
    const routes = `[${specs.map((s) => q(`nats-route://route:${routePassword}@${s.ip}:${ROUTE_PORT}`)).join(', ')}]`;
    for (const s of specs) {
      const store = join(dir, s.name);
      await mkdir(store, { recursive: true });
      // nats-server parses each variable as a config value: strings are quoted, so that a
      // password such as 1e3ab is not read as a number (docs/nats-cluster.md).
      const env: Record<string, string> = {
        NATS_SERVER_NAME: q(s.name),
        NATS_LISTEN: q(`${s.ip}:${CLIENT_PORT}`),
        NATS_HTTP: q(`${s.ip}:${MONITOR_PORT}`),
        NATS_STORE_DIR: q(store),
        NATS_CLUSTER_LISTEN: q(`${s.ip}:${ROUTE_PORT}`),
        NATS_ROUTES: routes,
        NATS_ROUTE_PASSWORD: q(routePassword),
        NATS_GATEWAY_PASSWORD: q(gateway.password),
        NATS_WORKER_PASSWORD: q(worker.password),
        ...(tls ? { NATS_TLS_CERT: q(tls.certFile), NATS_TLS_KEY: q(tls.keyFile) } : {}),
      };
      nodes.push(
        startNode(
          { name: s.name, ip: s.ip, netns: s.netns },
          `nats://${s.ip}:${CLIENT_PORT}`,
          o.tls ? NATS_TLS_CONF : NATS_CONF,
          env,
        ),
      );
    }
    const cluster: NatsCluster = {
      nodes,
      url: nodes.map((n) => n.url).join(','),
      hostIp,
      gateway,
      worker,
      envFor: (c) => {
        const u = c === 'gateway' ? gateway : worker;
        return { NATS_URL: cluster.url, NATS_USER: u.user, NATS_PASSWORD: u.password };
      },
      ready: () => waitHealthy(nodes),
      close,
    };
    await cluster.ready();
    return cluster;
  } catch (err) {
    await close();
    throw err;
  }
}

function startNode(
  s: { name: string; ip: string; netns: string },
  url: string,
  conf: string,
  env: Record<string, string>,
): NatsNode {
  let out = '';
  let child: ChildProcess;
  const spawnIt = () => {
    out = '';
    // nsenter enters only the network namespace and execs nats-server: its pid is the server's.
    child = spawn('nsenter', [`--net=/run/netns/${s.netns}`, '--', 'nats-server', '-c', conf], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (b: Buffer) => {
      out = (out + b.toString()).slice(-16 * 1024);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  };
  spawnIt();
  const node: NatsNode = {
    ...s,
    url,
    get process() {
      return child;
    },
    output: () => out,
    kill: async () => {
      child.kill('SIGKILL');
      await exited(child, STOP_MS);
    },
    start: async () => {
      spawnIt();
      await waitHealthy([node]);
    },
  };
  return node;
}

async function waitHealthy(nodes: readonly NatsNode[]): Promise<void> {
  const deadline = Date.now() + READY_MS;
  for (const n of nodes) {
    if (n.process.exitCode !== null || n.process.signalCode !== null) continue;
    const health = `http://${n.ip}:${MONITOR_PORT}/healthz`;
    for (;;) {
      if (n.process.exitCode !== null) throw new Error(`nats node ${n.name} exited:\n${n.output()}`);
      const ok = await fetch(health, { signal: AbortSignal.timeout(1000) })
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) break;
      if (Date.now() > deadline) {
        throw new Error(`nats node ${n.name} not healthy within ${READY_MS} ms:\n${n.output()}`);
      }
      await sleep(100);
    }
  }
}
