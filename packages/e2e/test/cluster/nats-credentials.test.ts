import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type NatsCluster,
  type Platform,
  type Service,
  startNatsCluster,
  startPlatform,
  startRedis,
  startWorkerHost,
  type WorkerHost,
} from '@thaw/devkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// A 3-node cluster from infra/nats/nats-tls.conf: TLS for clients with certificates made here by
// openssl, and the gateway and worker users of the config. The components connect with
// NATS_USER / NATS_PASSWORD / NATS_TLS_CA, and refuse to start with a wrong password.
const prefix = `nc${process.pid}`;
let certs: string;
let cluster: NatsCluster;
let redis: Service;
const started: { close(): Promise<void> }[] = [];

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: certs, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA, and a certificate it signs for the nodes' IPs (what a deployment makes once per cluster). */
async function makeCerts(ips: string[]): Promise<{ certFile: string; keyFile: string }> {
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl([
    'req',
    '-x509',
    ...key,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-subj',
    '/CN=thaw test CA',
    '-days',
    '1',
  ]);
  openssl(['req', ...key, '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=thaw nats']);
  // nats.js checks a server given by IP against the name "localhost" (it sends no SNI for an
  // IP), so the test certificate names it too; deployments use DNS names (docs/nats-cluster.md).
  const names = ['DNS:localhost', ...ips.map((ip) => `IP:${ip}`)];
  await writeFile(join(certs, 'san.cnf'), `subjectAltName=${names.join(',')}\n`);
  openssl(
    ['x509', '-req', '-in', 'node.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'].concat([
      '-out',
      'node.crt',
      '-days',
      '1',
      '-extfile',
      'san.cnf',
    ]),
  );
  return { certFile: join(certs, 'node.crt'), keyFile: join(certs, 'node.key') };
}

beforeAll(async () => {
  certs = await mkdtemp(join(tmpdir(), 'thaw-natscerts-'));
  cluster = await startNatsCluster({ tls: makeCerts });
  redis = await startRedis();
}, 60_000);

afterAll(async () => {
  for (const s of started.reverse()) await s.close().catch(() => undefined);
  await redis?.close();
  await cluster?.close();
  await rm(certs, { recursive: true, force: true });
});

const ca = () => ({ NATS_TLS_CA: join(certs, 'ca.crt') });

function gateway(env: Record<string, string>): Promise<Platform> {
  return startPlatform({
    natsUrl: cluster.url,
    redisUrl: redis.url,
    gatewayPort: 0,
    prefix,
    logs: 'buffer',
    logLevel: 'warn',
    worker: false,
    gatewayEnv: env,
  });
}

function worker(id: string, env: Record<string, string>): Promise<WorkerHost> {
  return startWorkerHost({ natsPort: 4222, prefix, workerId: id, env });
}

/** The start's error; a start that should have failed and did not is stopped, then reported. */
async function refusal(start: Promise<{ close(): Promise<void> }>): Promise<string> {
  return await start.then(
    async (up) => {
      await up.close();
      return 'started';
    },
    (err: Error) => err.message,
  );
}

describe('NATS credentials and TLS', () => {
  it('connects a gateway and a worker with their users, passwords and the CA', async () => {
    const platform = await gateway({ ...cluster.envFor('gateway'), ...ca() });
    started.push(platform);
    const host = await worker('tls1', { ...cluster.envFor('worker'), ...ca() });
    started.push(host);
    // The worker's heartbeats reach the gateway through the cluster.
    const deadline = Date.now() + 5000;
    let ids: string[] = [];
    while (Date.now() < deadline && !ids.includes('tls1')) {
      const res = await platform.fetch(`${platform.gatewayUrl}/v1/workers`);
      ids = ((await res.json()) as { workers: { workerId: string }[] }).workers.map((w) => w.workerId);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(ids).toEqual(['tls1']);
    expect((await fetch(`${platform.gatewayUrl}/readyz`)).status).toBe(200);
  }, 90_000);

  it('refuses to start a gateway or a worker with a wrong password, saying so', async () => {
    const wrong = { ...cluster.envFor('gateway'), NATS_PASSWORD: 'not-the-password', ...ca() };
    expect(await refusal(gateway(wrong))).toMatch(/Authorization Violation/i);
    const bad = { ...cluster.envFor('worker'), NATS_PASSWORD: 'not-the-password', ...ca() };
    expect(await refusal(worker('tls2', bad))).toMatch(/Authorization Violation/i);
  }, 90_000);

  it('refuses a server whose certificate no trusted CA signed', async () => {
    expect(await refusal(gateway(cluster.envFor('gateway')))).toMatch(/certificate/i);
  }, 60_000);
});
