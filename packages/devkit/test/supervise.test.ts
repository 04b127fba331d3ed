import { type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Runtime, residueItems, scratchRuntimeOptions } from '@thaw/runtime';
import { connect } from 'nats';
import { afterAll, describe, expect, it } from 'vitest';
import { type Platform, type Service, startNats, startPlatform, workerEnvFor } from '../src/index.js';

const dirs: string[] = [];
async function tempDir(tag: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), `thaw-sup${tag}-`));
  dirs.push(d);
  return d;
}

afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function exitOf(child: ChildProcess, ms: number): Promise<string> {
  if (child.exitCode === null && child.signalCode === null) {
    await Promise.race([new Promise((r) => child.once('exit', r)), sleep(ms)]);
  }
  return String(child.exitCode ?? child.signalCode ?? 'running');
}

describe('startNats', () => {
  it('never takes the ports file a killed nats-server left in its data folder', async () => {
    const dir = await tempDir('nats');
    const first = await startNats({ dataDir: dir });
    let second: Service | undefined;
    try {
      first.process.kill('SIGKILL');
      expect(await exitOf(first.process, 5000)).toBe('SIGKILL');
      // kill -9 leaves the dead server's ports file, naming its (now closed) port.
      expect((await readdir(dir)).filter((f) => f.endsWith('.ports'))).toEqual([
        `nats-server_${first.process.pid}.ports`,
      ]);

      second = await startNats({ dataDir: dir });
      expect(second.url).not.toBe(first.url);
      const nc = await connect({ servers: second.url, reconnect: false, timeout: 5000 });
      await nc.flush();
      await nc.close();
      // The stale file is gone: only the live server's is left.
      expect((await readdir(dir)).filter((f) => f.endsWith('.ports'))).toEqual([
        `nats-server_${second.process.pid}.ports`,
      ]);
    } finally {
      await second?.close();
      await first.close();
    }
  }, 60_000);
});

describe('a supervised platform', () => {
  it('gives up after its restarts in the window, names what died, and stops everything', async () => {
    const rt = scratchRuntimeOptions('sup');
    const data = await tempDir('data');
    await mkdir(join(data, 'nats'));
    await mkdir(join(data, 'redis'));
    const stopped: Error[] = [];
    let platform: Platform | undefined;
    try {
      platform = await startPlatform({
        natsDir: join(data, 'nats'),
        redisDir: join(data, 'redis'),
        gatewayPort: 0,
        logs: 'buffer',
        logLevel: 'warn',
        workerEnv: workerEnvFor(rt),
        supervise: { restarts: 1, windowMs: 120_000, backoffMs: 100, onStop: (err) => stopped.push(err) },
      });
      const p = platform;
      const servers = ['nats-server', 'redis-server'].map((name) =>
        execFileSync('pgrep', ['-x', '-P', String(process.pid), name], { encoding: 'utf8' }).trim(),
      );
      expect(servers.every((s) => /^\d+$/.test(s))).toBe(true);

      // The first crash is restarted: a new worker process gets ready and the platform serves on.
      const first = p.worker as ChildProcess;
      first.kill('SIGKILL');
      const deadline = Date.now() + 60_000;
      while (p.worker === first || p.restarts.length === 0) {
        if (Date.now() > deadline) throw new Error(`the worker was not restarted:\n${p.output()}`);
        await sleep(100);
      }
      expect(p.restarts).toEqual([{ name: 'worker', exit: 'signal SIGKILL' }]);
      const second = p.worker as ChildProcess;
      expect(second.pid).not.toBe(first.pid);
      expect(second.exitCode ?? second.signalCode).toBeNull();
      expect(stopped).toEqual([]);
      expect((await p.fetch(`${p.gatewayUrl}/v1/functions`)).status).toBe(200);

      // The second within the window is one too many: the run stops, saying what died and how.
      second.kill('SIGKILL');
      const until = Date.now() + 90_000;
      while (stopped.length === 0 && Date.now() < until) await sleep(100);
      expect(stopped.map((e) => e.message)).toEqual([
        'the worker died (signal SIGKILL) 2 times within 120 s; stopped everything',
      ]);
      // Stopped means stopped: the gateway, the servers and the runtime's containers and
      // host state are gone.
      expect(await exitOf(p.gateway, 5000)).not.toBe('running');
      for (const pid of servers) expect(existsSync(`/proc/${pid}`), `server ${pid}`).toBe(false);
      const { runtime, reclaimed } = await Runtime.open(rt);
      expect(reclaimed).toEqual([]);
      await runtime.close();
      expect(residueItems(await runtime.residue())).toEqual([]);
    } finally {
      await platform?.close();
      const { runtime } = await Runtime.open(rt);
      await runtime.close();
      await rm(rt.stateDir, { recursive: true, force: true });
      await rm(rt.runDir, { recursive: true, force: true });
    }
  }, 180_000);
});
