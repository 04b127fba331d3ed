import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Runtime, residueItems, scratchRuntimeOptions } from '@thaw/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  findTestResidue,
  type Platform,
  type Service,
  startNats,
  startPlatform,
  startRedis,
  workerEnvFor,
} from '../src/index.js';

// `npm run up` is setup + build + this script; the test runs the script (the suite builds first).
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const UP = join(REPO, 'packages/devkit/dist/up.js');
const CLI = join(REPO, 'packages/cli/bin/thaw.mjs');
const sh = promisify(execFile);

const rt = scratchRuntimeOptions('up');
let home: string;
let data: string;
let up: ChildProcess;
let output = '';
let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

/** Waits until the output matches `re` (or up exits, or the deadline passes). */
async function waitFor(re: RegExp, ms: number): Promise<RegExpExecArray> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = re.exec(output);
    if (m) return m;
    if (up.exitCode !== null || up.signalCode !== null)
      throw new Error(`up exited (${up.exitCode ?? up.signalCode}) before printing ${re}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`up did not print ${re} within ${ms} ms:\n${output}`);
    await sleep(100);
  }
}

/** Every process below `pid`, with its name. */
function descendants(pid: number): { pid: number; name: string }[] {
  let children: number[] = [];
  try {
    children = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    // pgrep exits 1 when there are none.
  }
  return children.flatMap((c) => {
    // A process may end between pgrep and this read.
    const name = existsSync(`/proc/${c}/comm`) ? readFileSync(`/proc/${c}/comm`, 'utf8').trim() : '?';
    return [{ pid: c, name }, ...descendants(c)];
  });
}

/** Whether `pid` is that server, or the worker or gateway (node running <name>/dist/main.js). */
function isProcess(pid: number, name: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (name === 'worker' || name === 'gateway')
      return cmdline.some((a) => a.endsWith(`${name}/dist/main.js`));
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name;
  } catch {
    // Ended since it was listed.
    return false;
  }
}

/** Calls `get` until it returns something, or throws when `ms` have passed. */
async function poll<T>(get: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await get().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms:\n${output}`);
    await sleep(250);
  }
}

/** A user's shell: no THAW_* settings, no NATS_URL / REDIS_URL, and HOME in the temp folder. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(THAW_|NATS_URL|REDIS_URL|PORT$|LOG_LEVEL$)/.test(k)) env[k] = v;
  }
  return { ...env, HOME: home, ...extra };
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'thaw-uphome-'));
  data = join(home, '.thaw');
  up = spawn(process.execPath, [UP], {
    // Its own process group, so that the test can send SIGINT to all of it, as Ctrl-C does.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cleanEnv({ ...workerEnvFor(rt), PORT: '0', THAW_UP_DIR: data }),
  });
  const keep = (b: Buffer) => {
    output += b.toString();
  };
  up.stdout?.on('data', keep);
  up.stderr?.on('data', keep);
  exited = new Promise((r) => up.once('exit', (code, signal) => r({ code, signal })));
}, 30_000);

afterAll(async () => {
  // Only when a test failed before the Ctrl-C: stop what is left of this run.
  if (up && up.exitCode === null && up.signalCode === null) {
    process.kill(-(up.pid as number), 'SIGTERM');
    await Promise.race([exited, sleep(60_000)]);
  }
  const { runtime } = await Runtime.open(rt);
  await runtime.close();
  await rm(home, { recursive: true, force: true });
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
}, 120_000);

describe('npm run up', () => {
  let pids: { pid: number; name: string }[] = [];
  let token = '';

  it('prints a curl line that answers, and writes config.json and the admin token (mode 0600)', async () => {
    const curl = await waitFor(/^\s*(curl -s 'http:\/\/localhost:(\d+)\/fn\/hello\/[^\n]*)$/m, 150_000);
    const [, line = '', port = ''] = curl;
    const answer = JSON.parse((await sh('bash', ['-c', line])).stdout) as Record<string, unknown>;
    expect(answer).toMatchObject({
      method: 'GET',
      path: '/greet',
      query: { name: 'thaw' },
      headers: { 'x-demo': '1' },
    });

    for (const f of ['config.json', 'admin-token']) {
      expect(statSync(join(data, f)).mode & 0o777, f).toBe(0o600);
    }
    token = readFileSync(join(data, 'admin-token'), 'utf8').trim();
    expect(token).toMatch(/^thaw_[A-Za-z0-9_-]{43}$/);
    expect(JSON.parse(readFileSync(join(data, 'config.json'), 'utf8'))).toEqual({
      url: `http://localhost:${port}`,
      token,
    });
    // The admin API line it prints works as printed (it reads the token file).
    const [admin = ''] = await waitFor(/^\s*curl -s localhost:\d+\/v1\/functions [^\n]*$/m, 5000);
    const { functions } = JSON.parse((await sh('bash', ['-c', admin])).stdout) as {
      functions: { name: string }[];
    };
    expect(functions.map((f) => f.name)).toEqual(['hello']);
    // Printed once, as documented, and in no log line.
    expect(output.split(token).length - 1).toBe(1);
    expect(output).toMatch(
      new RegExp(`generated the admin token \\(shown once; also in [^\\n]*\\):\\n\\n  ${token}\\n`),
    );

    pids = descendants(up.pid as number);
    expect(pids.map((p) => p.name)).toEqual(expect.arrayContaining(['nats-server', 'redis-server']));
    expect(pids.filter((p) => p.name === 'node' || p.name === 'MainThread').length).toBeGreaterThanOrEqual(2);
  }, 180_000);

  it('lets the CLI find the gateway and the token in .thaw/config.json, with no environment set', async () => {
    expect(token).not.toBe('');
    const ls = await sh(process.execPath, [CLI, 'ls', '--json'], { cwd: home, env: cleanEnv() });
    expect((JSON.parse(ls.stdout) as { name: string }[]).map((f) => f.name)).toEqual(['hello']);
    // From a folder below it too, as from anywhere in the repo.
    const below = join(data, 'nats');
    const get = await sh(process.execPath, [CLI, 'get', 'hello'], { cwd: below, env: cleanEnv() });
    expect(get.stdout).toMatch(/^name:\s+hello$/m);
  }, 60_000);

  it('restarts a nats-server, redis-server, worker or gateway killed with -9, and serves on', async () => {
    const [, curl = ''] = await waitFor(/^\s*(curl -s 'http:\/\/localhost:\d+\/fn\/hello\/[^\n]*)$/m, 5000);
    for (const name of ['nats-server', 'redis-server', 'worker', 'gateway']) {
      const [victim] = descendants(up.pid as number).filter((p) => isProcess(p.pid, name));
      expect(victim, name).toBeDefined();
      process.kill(victim?.pid as number, 'SIGKILL');
      await waitFor(new RegExp(`thaw: the ${name} died \\(signal SIGKILL\\) and was restarted`), 90_000);
      const [next] = descendants(up.pid as number).filter((p) => isProcess(p.pid, name));
      expect(next?.pid, name).not.toBe(victim?.pid);
      // The others reconnect to it (same port, same data): the function answers again.
      const answer = await poll(async () => {
        const r = await sh('bash', ['-c', `${curl} -w '\\n%{http_code}'`]);
        return r.stdout.endsWith('\n200') ? r.stdout : undefined;
      }, 60_000);
      expect(answer, name).toContain('"path":"/greet"');
    }
    // The killed nats-server's ports file named a dead port: it was not taken, and is gone.
    const ports = (await readdir(join(data, 'nats'))).filter((f) => f.endsWith('.ports'));
    expect(ports).toHaveLength(1);
    const [nats] = descendants(up.pid as number).filter((p) => isProcess(p.pid, 'nats-server'));
    expect(ports[0]).toBe(`nats-server_${nats?.pid}.ports`);
  }, 300_000);

  it('after kill -9 of the worker, Ctrl-C still stops everything and leaves nothing behind', async () => {
    // Warm instances of a second function, so that the dead worker leaves containers behind.
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const base = /"url": "(http:\/\/localhost:\d+)"/.exec(
      readFileSync(join(data, 'config.json'), 'utf8'),
    )?.[1];
    const hello = (await (await fetch(`${base}/v1/functions/hello`, { headers: auth })).json()) as {
      image: string;
    };
    const deployed = await fetch(`${base}/v1/functions`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ name: 'warm', image: hello.image, minInstances: 3 }),
    });
    expect(deployed.status).toBe(201);
    const runc = () =>
      execFileSync('runc', ['--root', join(rt.runDir, 'runc'), 'list', '--quiet'], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean);
    expect(await poll(async () => (runc().length >= 3 ? true : undefined), 90_000)).toBe(true);

    pids = descendants(up.pid as number);
    expect(pids.length).toBeGreaterThanOrEqual(4);
    const [worker] = pids.filter((p) => isProcess(p.pid, 'worker'));
    const before = output.length;
    process.kill(worker?.pid as number, 'SIGKILL');
    process.kill(-(up.pid as number), 'SIGINT');
    const end = await Promise.race([exited, sleep(120_000).then(() => 'timeout' as const)]);
    expect(end, output).toEqual({ code: 0, signal: null });
    // A worker started for it removed what the dead one left (its log line, level warn).
    expect(output.slice(before)).toMatch(/removed containers left by an earlier run/);
    expect(output).toContain('thaw: stopped');
    // Orphans are reaped by init: allow a moment.
    const deadline = Date.now() + 10_000;
    let alive = pids.filter((p) => existsSync(`/proc/${p.pid}`));
    while (alive.length && Date.now() < deadline) {
      await sleep(100);
      alive = pids.filter((p) => existsSync(`/proc/${p.pid}`));
    }
    expect(alive).toEqual([]);
    // Nothing of the worker's runtime (netns, veths and bridge, mounts, cgroups, firewall, run
    // folder) is left; checked before anything below could tidy it up.
    const names = [rt.cgroupParent, rt.bridge, rt.runDir, rt.stateDir, home];
    expect(
      findTestResidue().filter((r) => !r.startsWith('folder /tmp/') && names.some((n) => r.includes(n))),
    ).toEqual([]);
    const mounts = readFileSync('/proc/self/mounts', 'utf8');
    expect(mounts).not.toContain(rt.stateDir);
    expect(mounts).not.toContain(home);
    // And no container for a new runtime on the same settings to reclaim.
    const { runtime, reclaimed } = await Runtime.open(rt);
    expect(reclaimed).toEqual([]);
    await runtime.close();
    expect(residueItems(await runtime.residue())).toEqual([]);
  }, 200_000);
});

/** Every file under `dir`, as text (Redis's append-only log and snapshot, here). */
async function allText(dir: string): Promise<string> {
  const files = await readdir(dir, { recursive: true, withFileTypes: true });
  const texts = await Promise.all(
    files.filter((f) => f.isFile()).map((f) => readFile(join(f.parentPath, f.name), 'latin1')),
  );
  return texts.join('\n');
}

describe('the admin token a gateway makes on its first start', () => {
  it('is made once, kept only as a hash, written with mode 0600 and never logged', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'thaw-token-'));
    const services: Service[] = [];
    const platforms: Platform[] = [];
    const use = async (p: Platform, token: string) => {
      const auth = { authorization: `Bearer ${token}` };
      return [
        (await fetch(`${p.gatewayUrl}/v1/functions`, { headers: auth })).status,
        (await fetch(`${p.gatewayUrl}/fn/nosuch/`, { headers: auth })).status,
        (await fetch(`${p.gatewayUrl}/async/nosuch/`, { method: 'POST', headers: auth })).status,
      ];
    };
    try {
      const nats = await startNats();
      services.push(nats);
      await mkdir(join(dir, 'redis'));
      const redis = await startRedis({ dataDir: join(dir, 'redis') });
      services.push(redis);
      const start = async () => {
        const p = await startPlatform({
          natsUrl: nats.url,
          redisUrl: redis.url,
          prefix: 'tok',
          gatewayPort: 0,
          worker: false,
          logs: 'buffer',
          // Every log line the gateway can write, to show that none of them holds a token.
          logLevel: 'trace',
          tokenFile: join(dir, 'admin-token'),
        });
        platforms.push(p);
        return p;
      };
      const first = await start();
      const token = first.token;
      const file = join(dir, 'admin-token');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file, 'utf8')).toBe(`${token}\n`);
      const written = statSync(file).mtimeMs;
      const wrong = `thaw_${'x'.repeat(43)}`;
      expect(await use(first, token)).toEqual([200, 404, 404]);
      expect((await use(first, wrong))[0]).toBe(401);
      // Printed once on stdout, as documented (docs/api.md), and never in a log line.
      const out1 = first.output();
      expect(out1.split(token).length - 1, out1).toBe(1);
      expect(out1).toContain(`generated the admin token (shown once; also in ${file}):\n\n  ${token}\n`);
      expect(out1).not.toContain(wrong);
      expect(out1).toMatch(/"msg":"generated the admin token \(printed on stdout once\)"/);
      await first.close();

      // A second start on the same Redis takes the token made by the first.
      const second = await start();
      expect(second.token).toBe(token);
      expect(statSync(file).mtimeMs).toBe(written);
      expect(await use(second, token)).toEqual([200, 404, 404]);
      const out2 = second.output();
      expect(out2).not.toContain(token);
      expect(out2).not.toContain('generated the admin token');

      // Redis holds its SHA-256, and nowhere the token itself: not in a key, a value, the
      // append-only log or a snapshot written without compression.
      const cli = (...args: string[]) =>
        execFileSync('redis-cli', ['-u', redis.url, ...args], { encoding: 'utf8' }).trim();
      expect(cli('GET', 'tok:admin-token-sha256')).toBe(createHash('sha256').update(token).digest('hex'));
      cli('CONFIG', 'SET', 'rdbcompression', 'no');
      expect(cli('SAVE')).toBe('OK');
      const stored = await allText(join(dir, 'redis'));
      expect(stored).toContain('tok:admin-token-sha256');
      expect(stored).not.toContain(token);
      expect(stored).not.toContain(token.slice(5));
    } finally {
      for (const p of platforms) await p.close();
      for (const sv of services.reverse()) await sv.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('npm run up whose worker keeps dying', () => {
  it('stops the whole run with exit status 1 and a message naming the worker and its signal', async () => {
    const rt2 = scratchRuntimeOptions('upstop');
    const dir = join(home, 'stop');
    const run = spawn(process.execPath, [UP], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: cleanEnv({ ...workerEnvFor(rt2), PORT: '0', THAW_UP_DIR: dir }),
    });
    let out = '';
    run.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
    });
    run.stderr?.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const end = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      run.once('exit', (code, signal) => r({ code, signal })),
    );
    const until = async (ok: () => boolean, ms: number, what: string) => {
      const deadline = Date.now() + ms;
      while (!ok()) {
        if (Date.now() > deadline) throw new Error(`${what} not within ${ms} ms:\n${out}`);
        await sleep(100);
      }
    };
    const gone = () => run.exitCode !== null || run.signalCode !== null;
    try {
      await until(() => out.includes('thaw is running'), 150_000, 'thaw is running');
      const everything = descendants(run.pid as number);
      // Up to 3 restarts a minute: the 4th death ends the run.
      for (let death = 1; death <= 4; death++) {
        const [worker] = descendants(run.pid as number).filter((p) => isProcess(p.pid, 'worker'));
        expect(worker, `death ${death}`).toBeDefined();
        everything.push(worker as { pid: number; name: string });
        process.kill(worker?.pid as number, 'SIGKILL');
        const restarted = () =>
          out.split('thaw: the worker died (signal SIGKILL) and was restarted').length - 1;
        if (death < 4) await until(() => restarted() === death, 60_000, `restart ${death}`);
      }
      await until(gone, 90_000, 'the end of the run');
      expect(await end).toEqual({ code: 1, signal: null });
      expect(out).toContain('thaw: the worker died (signal SIGKILL) 4 times within 60 s; stopped everything');
      // Nothing of it keeps running half-dead, and its runtime left nothing.
      await until(() => everything.every((p) => !existsSync(`/proc/${p.pid}`)), 10_000, 'every process gone');
      const names = [rt2.cgroupParent, rt2.bridge, rt2.runDir, rt2.stateDir];
      expect(
        findTestResidue().filter((r) => !r.startsWith('folder /tmp/') && names.some((n) => r.includes(n))),
      ).toEqual([]);
      const { runtime, reclaimed } = await Runtime.open(rt2);
      expect(reclaimed).toEqual([]);
      await runtime.close();
      expect(residueItems(await runtime.residue())).toEqual([]);
    } finally {
      if (!gone()) {
        process.kill(-(run.pid as number), 'SIGTERM');
        await Promise.race([end, sleep(60_000)]);
      }
      const { runtime } = await Runtime.open(rt2);
      await runtime.close();
      await rm(rt2.stateDir, { recursive: true, force: true });
      await rm(rt2.runDir, { recursive: true, force: true });
    }
  }, 300_000);
});
