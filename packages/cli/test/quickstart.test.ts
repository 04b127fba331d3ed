import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Platform, startPlatform, workerEnvFor } from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/index.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const rt = scratchRuntimeOptions('cli');
let platform: Platform;

beforeAll(async () => {
  platform = await startPlatform({
    gatewayPort: 0,
    prefix: `cli${process.pid}`,
    logs: 'buffer',
    workerEnv: workerEnvFor(rt),
  });
}, 120_000);

afterAll(async () => {
  await platform?.close();
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
  await rm('/tmp/hello.tar', { force: true });
});

/** The README's quickstart block, as a list of shell lines. */
function quickstart(): string[] {
  const readme = readFileSync(`${REPO}/README.md`, 'utf8');
  const block = /<!-- quickstart[^>]*-->\s*```sh\n([\s\S]*?)```\s*<!-- \/quickstart -->/.exec(readme)?.[1];
  if (!block) throw new Error('README has no quickstart block');
  return block.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
}

async function cli(args: string[], env: Record<string, string> = {}) {
  let out = '';
  let err = '';
  const code = await run(
    args,
    { out: (s) => (out += s), err: (s) => (err += s), tty: false },
    {
      ...process.env,
      THAW_URL: platform.gatewayUrl,
      THAW_TOKEN: platform.token,
      ...env,
    },
  );
  return { code, out, err };
}

/**
 * The README's load loop ends in a bare `wait`, which succeeds whatever the 16 invokes did: the
 * test waits for each one by its pid and prints its exit status.
 */
function checkedLoad(line: string): string {
  const m = /^for i in \$\(seq (\d+)\); do (npx thaw invoke [^&]+?) & done; wait$/.exec(line.trim());
  if (!m) return line;
  return `pids=(); for i in $(seq ${m[1]}); do ${m[2]} & pids+=($!); done; for p in "\${pids[@]}"; do if wait "$p"; then echo "load: exit 0"; else echo "load: exit $?"; fi; done`;
}

/** What the line of the script that starts with `command` printed (up to the next "+ " echo). */
function outputOf(stdout: string, command: string): string {
  const start = stdout.indexOf(`+ ${command}`);
  if (start < 0) throw new Error(`"${command}" did not run:\n${stdout}`);
  const rest = stdout.slice(stdout.indexOf('\n', start) + 1);
  const next = rest.search(/^\+ /m);
  return next < 0 ? rest : rest.slice(0, next);
}

describe('the README quickstart', () => {
  it('runs as written, line by line, against a running platform', async () => {
    const lines = quickstart().map(checkedLoad);
    expect(lines.length).toBeGreaterThan(8);
    const load = lines.find((l) => l.includes('load: exit'));
    expect(load, 'the README has no load loop of the expected form').toBeDefined();
    // Each line echoed before it runs, so the output shows which one failed.
    const script = [
      'set -euo pipefail',
      ...lines.flatMap((l) => [`echo "+ ${l.replace(/["$`\\]/g, '\\$&')}"`, l]),
    ].join('\n');
    const { stdout } = await promisify(execFile)('bash', ['-c', script], {
      cwd: REPO,
      env: { ...process.env, THAW_URL: platform.gatewayUrl, THAW_TOKEN: platform.token },
      maxBuffer: 16 * 1024 * 1024,
    });
    expect(stdout).toMatch(/\/tmp\/hello\.tar: sha256:[0-9a-f]{64} \(handler\)/);
    expect(stdout).toMatch(/deployed greet: revision 1, ready/);
    expect(stdout).toContain('"greeting":"hello, ada"');
    expect(stdout).toMatch(/greet\.[0-9a-f-]{36}: succeeded after 1 of 3 tries/);
    expect(stdout).toMatch(/stdout: greeting ada \(0 bytes in\)/);
    // Every one of the 16 background invokes exited 0.
    const statuses = outputOf(stdout, load ?? '-').match(/^load: exit \d+$/gm) ?? [];
    expect(statuses).toEqual(Array.from({ length: 16 }, () => 'load: exit 0'));
    // `get` lists the instances that served them: worker, instance, state, revision 1, busy,
    // charged memory and start phases (a dash where the worker does not report them).
    const get = outputOf(stdout, 'npx thaw get greet');
    expect(get).toMatch(/^name:\s+greet$/m);
    expect(get).toMatch(/^revision:\s+1$/m);
    expect(get).toMatch(/^removed:\s+(none|\d+ \(.+\))$/m);
    expect(get).toMatch(/^WORKER\s+INSTANCE\s+STATE\s+REVISION\s+BUSY\s+MEMORY\s+START$/m);
    const row =
      /^\S+\s+[0-9a-f]{12}\s+(running|frozen)\s+1\s+\d+\s+(-|[\d.]+ MiB)\s+(-|\d+ ms \(image \d+, rootfs \d+, network \d+, runtime \d+, app \d+(; cpu \d+ ms)?\))$/;
    const rows = get.split('\n').filter((r) => row.test(r));
    expect(rows.length, get).toBeGreaterThanOrEqual(1);
    expect(stdout).toMatch(/updated greet: revision 2, ready/);
    expect(stdout).toMatch(/^greet\s+2\s+ready/m);
    expect(stdout).toContain('removed greet');
  }, 180_000);
});

describe('thaw', () => {
  it('has --help on every command', async () => {
    for (const c of ['deploy', 'invoke', 'ls', 'get', 'scale-to-zero', 'logs', 'rm', 'calls', 'build']) {
      const r = await cli([c, '--help']);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`^usage: thaw ${c}`));
      expect(r.out).toContain('Exit codes');
    }
    expect((await cli([])).code).toBe(2);
    expect((await cli(['--help'])).code).toBe(0);
  });

  it('exits with codes scripts can rely on, and prints the catalogue code', async () => {
    const missing = await cli(['get', 'nosuch']);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/FUNCTION_NOT_FOUND/);
    const json = await cli(['get', 'nosuch', '--json']);
    expect(JSON.parse(json.err)).toMatchObject({ error: { code: 'FUNCTION_NOT_FOUND' } });
    const denied = await cli(['ls'], { THAW_TOKEN: 'wrong-token-wrong-token' });
    expect(denied.code).toBe(1);
    expect(denied.err).toMatch(/UNAUTHORIZED/);
    expect((await cli(['deploy', '--bogus'])).code).toBe(2);
    expect((await cli(['deploy', '--name', 'x'])).code).toBe(2);
    expect((await cli(['build', '/nonexistent-dir'])).code).toBe(2);
    const down = await cli(['ls'], { THAW_URL: 'http://127.0.0.1:9' });
    expect(down.code).toBe(3);
    expect(down.err).toMatch(/cannot reach the gateway/);
  });

  it('prints JSON on stdout with --json for every command, and exits 1 when the function answers 400 or more', async () => {
    const dir = `${rt.stateDir}/jsonfn`;
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      `${dir}/handler.mjs`,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the handler's own template string
      'export default async (req) => {\n  console.log(`jsonfn ${req.path}`);\n  return { status: Number(req.query.status ?? 200), body: { path: req.path } };\n};\n',
    );
    /** A command's stdout, which must be one JSON value. */
    const run = async (args: string[], code = 0) => {
      const r = await cli([...args, '--json']);
      expect({ args, code: r.code, err: r.err }).toEqual({ args, code, err: '' });
      return JSON.parse(r.out) as Record<string, unknown>;
    };
    expect(await run(['deploy', dir, '--name', 'jsonfn'])).toMatchObject({
      name: 'jsonfn',
      revision: 1,
      status: 'ready',
    });
    expect(await run(['invoke', 'jsonfn', '/ok'])).toMatchObject({ status: 200, body: '{"path":"/ok"}' });
    expect(await run(['invoke', 'jsonfn', '/edge?status=399'])).toMatchObject({ status: 399 });
    expect(await run(['invoke', 'jsonfn', '/bad?status=400'], 1)).toMatchObject({ status: 400 });
    expect(await run(['invoke', 'jsonfn', '/teapot?status=418'], 1)).toMatchObject({ status: 418 });
    // The same without --json: the answer on stdout, a note on stderr, exit 1.
    const plain = await cli(['invoke', 'jsonfn', '/boom?status=500']);
    expect(plain).toMatchObject({ code: 1, out: '{"path":"/boom"}\n', err: 'the function answered 500\n' });

    const ok = await run(['invoke', 'jsonfn', '/later', '--async']);
    expect(ok.callId).toMatch(/^jsonfn\./);
    expect(await run(['calls', String(ok.callId), '--wait'])).toMatchObject({
      status: 'succeeded',
      response: { status: 200 },
    });
    const teapot = await run(['invoke', 'jsonfn', '/later?status=418', '--async']);
    expect(await run(['calls', String(teapot.callId), '--wait'], 1)).toMatchObject({
      status: 'succeeded',
      response: { status: 418 },
    });

    const list = (await run(['ls'])) as unknown as { name: string }[];
    expect(list.map((f) => f.name)).toContain('jsonfn');
    // The instance shows once a heartbeat has carried it (every 500 ms); one removed in the
    // meantime would show in `removed` with its reason, which the failure message prints.
    let fn = await run(['get', 'jsonfn']);
    const instances = (f: typeof fn) => (f.workers as { instances: unknown[] }[]).flatMap((w) => w.instances);
    for (let i = 0; i < 20 && instances(fn).length === 0; i++) {
      await sleep(150);
      fn = await run(['get', 'jsonfn']);
    }
    expect(fn).toMatchObject({ name: 'jsonfn', revision: 1 });
    expect(instances(fn).length, JSON.stringify(fn)).toBeGreaterThan(0);
    // logs: one JSON object a line (it can follow, so not one array); the lines reach it shortly.
    let lines: Record<string, unknown>[] = [];
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(250)) {
      const r = await cli(['logs', 'jsonfn', '--json']);
      expect(r.code).toBe(0);
      lines = r.out
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      if (lines.some((l) => JSON.stringify(l).includes('jsonfn /teapot'))) break;
    }
    expect(lines.map((l) => JSON.stringify(l)).join('\n')).toContain('jsonfn /teapot');
    expect(await run(['rm', 'jsonfn'])).toEqual({ removed: 'jsonfn' });
  }, 120_000);

  it('shows a real instance’s charged memory and start, and scales it to zero on request', async () => {
    const dir = `${rt.stateDir}/idlefn`;
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}/handler.mjs`, 'export default async () => ({ status: 200, body: "ok" });\n');
    expect((await cli(['deploy', dir, '--name', 'idlefn'])).code).toBe(0);
    expect((await cli(['invoke', 'idlefn'])).out).toBe('ok\n');
    // The instance stays (frozen) with no maximum idle age: get shows it with what it costs.
    const row =
      /^\S+\s+[0-9a-f]{12}\s+(running|frozen)\s+1\s+\d+\s+[\d.]+ MiB\s+\d+ ms \(image \d+, rootfs \d+, network \d+, runtime \d+, app \d+(; cpu \d+ ms)?\)$/m;
    let got = await cli(['get', 'idlefn']);
    for (const deadline = Date.now() + 10_000; !row.test(got.out) && Date.now() < deadline; ) {
      await sleep(250);
      got = await cli(['get', 'idlefn']);
    }
    expect(got.out).toMatch(row);
    expect(got.out).toMatch(/^idle:\s+kept frozen while memory allows$/m);

    const ids = async () => {
      const fn = JSON.parse((await cli(['get', 'idlefn', '--json'])).out) as {
        workers: { instances: { id: string }[] }[];
        removed: Record<string, number>;
      };
      return { ids: fn.workers.flatMap((w) => w.instances.map((i) => i.id)), removed: fn.removed };
    };
    const before = await ids();
    expect(before.ids.length).toBeGreaterThan(0);

    expect((await cli(['scale-to-zero', 'idlefn'])).code).toBe(0);
    // The idle instances that were there go, and are counted as requested. (Whether the pool
    // then starts a new one is the worker's policy: its autoscaler may still want one.)
    let after = await ids();
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(250)) {
      after = await ids();
      if (!after.ids.some((id) => before.ids.includes(id))) break;
    }
    expect(after.ids.filter((id) => before.ids.includes(id))).toEqual([]);
    expect(after.removed.requested).toBe(before.ids.length);
    expect((await cli(['get', 'idlefn'])).out).toMatch(
      new RegExp(`^removed:\\s+\\d+ \\(.*requested ${before.ids.length}.*\\)$`, 'm'),
    );
    expect((await cli(['rm', 'idlefn'])).code).toBe(0);
  }, 120_000);

  it('builds the same digest from the same directory', async () => {
    const a = await cli(['build', `${REPO}/examples/hello-fn`, '-o', `${rt.stateDir}/a.tar`, '--json']);
    const b = await cli(['build', `${REPO}/examples/hello-fn`, '-o', `${rt.stateDir}/b.tar`, '--json']);
    expect(a.code).toBe(0);
    expect(JSON.parse(a.out).digest).toBe(JSON.parse(b.out).digest);
  });
});
