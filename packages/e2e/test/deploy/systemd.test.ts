/**
 * docs/deploy.md's install, checked where it can be without a host of its own: every unit in
 * infra/systemd passes `systemd-analyze verify` (with no warning either) against the commands the
 * install puts on the PATH, the example env files parse with the gateway's and worker's own
 * schemas (the NATS one with nats-server's own config check), and the commands answer without
 * connecting anywhere.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, realpath, rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadEnv as gatewayEnv } from '@thaw/gateway';
import { natsConnectOptions } from '@thaw/shared';
import { loadEnv as workerEnv } from '@thaw/worker';
import { type ConnectionOptions, connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnvFile } from './env-file.js';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../../../', import.meta.url));
const units = join(repo, 'infra/systemd');
/** Where infra/setup.sh links the workspace packages' bins, and the units run them from. */
const BIN_DIR = '/usr/local/bin';
/** Exit status of a command given a bad setting (the units' RestartPreventExitStatus). */
const EXIT_CONFIG = 78;
/** A nats-server on a free port answers well within this, even on a busy machine. */
const NATS_START_MS = 10_000;
/**
 * systemd-analyze security's exposure (0-100; it prints a tenth of it) the sandboxed units stay
 * under: the gateway and a NATS node measure 16 and 15 now; 20 lets a setting be added, not
 * the sandbox dropped. The worker is root without a sandbox by design (its unit says why).
 */
const EXPOSURE_MAX = 20;

const services = [
  { name: 'thaw-gateway', pkg: 'gateway', env: 'gateway.env', load: gatewayEnv },
  { name: 'thaw-worker', pkg: 'worker', env: 'worker.env', load: workerEnv },
] as const;

async function readEnvFile(name: string) {
  return parseEnvFile(await readFile(join(units, name), 'utf8'), name);
}

/** A command's exit status and output, whether it failed or not. */
async function outcome(file: string, args: string[], env: NodeJS.ProcessEnv) {
  try {
    const { stdout, stderr } = await run(file, args, { env, timeout: 10_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** A port nothing listens on now (the kernel's pick, released at once). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Connects once the server listens: it was just spawned. */
async function connectWithin(opts: ConnectionOptions, ms: number): Promise<NatsConnection> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await connect({ ...opts, maxReconnectAttempts: 0 });
    } catch (err) {
      if (Date.now() > deadline || !/CONNECTION_REFUSED/.test(String(err))) throw err;
      await sleep(50);
    }
  }
}

describe('systemd units', () => {
  it('name the commands the packages install, linked to this checkout', async () => {
    for (const s of services) {
      const pkg = JSON.parse(await readFile(join(repo, s.pkg, 'package.json'), 'utf8')) as {
        bin?: Record<string, string>;
      };
      const bin = pkg.bin?.[s.name];
      expect(bin, `${s.pkg}/package.json bin.${s.name}`).toBeDefined();
      const unit = await readFile(join(units, `${s.name}.service`), 'utf8');
      expect(unit).toMatch(new RegExp(`^ExecStart=${BIN_DIR}/${s.name}$`, 'm'));
      expect(unit).toContain(`EnvironmentFile=/etc/thaw/${s.env}\n`);
      const linked = await realpath(join(BIN_DIR, s.name)).catch(() => undefined);
      expect(linked, `${BIN_DIR}/${s.name} must link to this checkout: run npm run setup`).toBe(
        join(repo, s.pkg, bin!),
      );
    }
  });

  it('pass systemd-analyze verify without a warning', async () => {
    const files = (await readdir(units)).filter((f) => f.endsWith('.service')).sort();
    // Redis and Sentinel run under Debian's own units (docs/redis-sentinel.md).
    expect(files).toEqual(['thaw-gateway.service', 'thaw-nats.service', 'thaw-worker.service']);
    for (const f of files) {
      // verify exits 0 on unknown keys and bad values (it only warns): its output must be empty.
      const r = await outcome('systemd-analyze', ['verify', '--man=no', join(units, f)], process.env);
      expect({ unit: f, ...r }).toEqual({ unit: f, code: 0, stdout: '', stderr: '' });
    }
  });

  for (const unit of ['thaw-gateway.service', 'thaw-nats.service']) {
    it(`${unit} stays sandboxed (systemd-analyze security)`, async () => {
      const args = ['security', '--offline=yes', `--threshold=${EXPOSURE_MAX}`, '--no-pager'];
      const r = await outcome('systemd-analyze', [...args, join(units, unit)], process.env);
      expect(r.code, r.stdout.split('\n').slice(-3).join('\n')).toBe(0);
    });
  }
});

describe('example env files', () => {
  for (const s of services) {
    it(`${s.env} parses with ${s.name}'s schema, its examples too, every name known`, async () => {
      const file = await readEnvFile(s.env);
      expect(Object.keys(file.set).length).toBeGreaterThan(0);
      for (const env of [file.set, { ...file.set, ...file.examples }]) {
        const parsed = s.load(env);
        // zod drops names it does not know: a misspelt variable would be silently ignored.
        for (const key of Object.keys(env)) expect(Object.hasOwn(parsed, key), `${s.env}: ${key}`).toBe(true);
      }
    });
  }

  describe('nats.env with infra/nats', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'thaw-s14a-tls-'));
      await run('openssl', [
        ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
        ...[
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
          '-subj',
          '/CN=thaw-nats-1',
          '-days',
          '1',
        ],
      ]);
    });
    let server: ChildProcess | undefined;
    afterAll(async () => {
      if (server && server.exitCode === null) {
        const gone = new Promise((r) => server?.once('exit', r));
        server.kill('SIGTERM');
        await gone;
      }
      await rm(dir, { recursive: true, force: true });
    });

    // Only what the env file sets: nats-server refuses a config naming a variable it lacks.
    const check = (conf: string, env: Record<string, string>) =>
      outcome('/usr/sbin/nats-server', ['-t', '-c', join(repo, 'infra/nats', conf)], env);

    it('sets every variable nats.conf reads', async () => {
      const { set } = await readEnvFile('nats.env');
      const r = await check('nats.conf', set);
      expect(r.code, r.stderr).toBe(0);
    });

    it("lets the gateway and the worker in with their env files' users and passwords", async () => {
      const { set } = await readEnvFile('nats.env');
      const port = await freePort();
      // This node alone, on loopback: the example's addresses, routes and folder are another host's.
      const local = {
        ...set,
        NATS_LISTEN: `127.0.0.1:${port}`,
        NATS_HTTP: '127.0.0.1:0',
        NATS_CLUSTER_LISTEN: '127.0.0.1:-1',
        // Clustered JetStream will not start without a route; port 1 answers nothing.
        NATS_ROUTES: '["nats-route://route:none@127.0.0.1:1"]',
        NATS_STORE_DIR: join(dir, 'js'),
      };
      server = spawn('/usr/sbin/nats-server', ['-c', join(repo, 'infra/nats/nats.conf')], {
        env: local,
        stdio: 'ignore',
      });
      const [gw, wk] = await Promise.all(
        services.map(async (s) => {
          const env = s.load({ ...(await readEnvFile(s.env)).set, NATS_URL: `nats://127.0.0.1:${port}` });
          return connectWithin(natsConnectOptions(env, s.name), NATS_START_MS);
        }),
      );
      // In, and in the same account: a request from the gateway's connection reaches the worker's.
      const sub = wk!.subscribe('thaw.deploy-test', { max: 1, callback: (_e, m) => m.respond(m.data) });
      await wk!.flush();
      const reply = await gw!.request('thaw.deploy-test', new TextEncoder().encode('ping'), {
        timeout: 5000,
      });
      expect(new TextDecoder().decode(reply.data)).toBe('ping');
      sub.unsubscribe();
      await Promise.all([gw!.close(), wk!.close()]);
      const wrong = gatewayEnv({
        NATS_URL: `nats://127.0.0.1:${port}`,
        NATS_USER: 'gateway',
        NATS_PASSWORD: 'not-it',
      });
      await expect(
        connect({ ...natsConnectOptions(wrong, 'wrong'), maxReconnectAttempts: 0 }),
      ).rejects.toThrow(/Authorization/i);
    });

    it('with its TLS examples, every variable nats-tls.conf reads', async () => {
      const { set, examples } = await readEnvFile('nats.env');
      const env = {
        ...set,
        ...examples,
        NATS_TLS_CERT: join(dir, 'cert.pem'),
        NATS_TLS_KEY: join(dir, 'key.pem'),
      };
      expect(Object.keys(examples)).toEqual(expect.arrayContaining(['NATS_TLS_CERT', 'NATS_TLS_KEY']));
      const r = await check('nats-tls.conf', env);
      expect(r.code, r.stderr).toBe(0);
    });
  });
});

describe('commands', () => {
  for (const s of services) {
    const cmd = join(BIN_DIR, s.name);
    // No NATS_URL reachable, nothing else set: an answer proves nothing was connected to.
    const bare = { PATH: process.env.PATH, NATS_URL: 'nats://127.0.0.1:1' };

    it(`${s.name} --help and --version answer without connecting`, async () => {
      const help = await outcome(cmd, ['--help'], bare);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`Usage: ${s.name}`);
      expect(help.stdout).toContain(`/etc/thaw/${s.env}`);
      const pkg = JSON.parse(await readFile(join(repo, s.pkg, 'package.json'), 'utf8')) as {
        version: string;
      };
      const version = await outcome(cmd, ['--version'], bare);
      expect(version).toEqual({ code: 0, stdout: `${s.name} ${pkg.version}\n`, stderr: '' });
    });

    it(`${s.name} names a bad setting, without a stack trace, and exits ${EXIT_CONFIG}`, async () => {
      const r = await outcome(cmd, [], { ...bare, LOG_LEVEL: 'loud' });
      expect(r.code).toBe(EXIT_CONFIG);
      expect(r.stderr).toMatch(new RegExp(`^${s.name}: invalid environment:\\n  LOG_LEVEL: `));
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });

    it(`${s.name} refuses an unknown argument`, async () => {
      const r = await outcome(cmd, ['--port=80'], bare);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('unknown argument --port=80');
    });
  }
});
