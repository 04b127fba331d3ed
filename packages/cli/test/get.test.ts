import { type Platform, startPlatform } from '@thaw/devkit';
import { subjects, type WorkerHeartbeat } from '@thaw/shared';
import { connect, JSONCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/index.js';

// `thaw get` and `thaw scale-to-zero` against a real gateway, NATS and Redis. No worker runs:
// the heartbeats a worker would send are published here, carrying removals, charged memory
// and start phases, so the output is known to the digit.
const prefix = `cg${process.pid}`;
const subj = subjects(prefix);
let platform: Platform;
let nc: NatsConnection;

beforeAll(async () => {
  platform = await startPlatform({ gatewayPort: 0, prefix, logs: 'buffer', worker: false });
  nc = await connect({ servers: platform.natsUrl });
}, 120_000);

afterAll(async () => {
  await nc?.close();
  await platform?.close();
});

async function cli(args: string[]) {
  let out = '';
  let err = '';
  const code = await run(
    args,
    { out: (s) => (out += s), err: (s) => (err += s), tty: false },
    { ...process.env, THAW_URL: platform.gatewayUrl, THAW_TOKEN: platform.token },
  );
  return { code, out, err };
}

const start = {
  imageMs: 0,
  rootfsMs: 8.4,
  networkMs: 21,
  runtimeMs: 38,
  appMs: 25,
  totalMs: 92.2,
  cpuMs: 61,
};

function beat(workerId: string, fn: WorkerHeartbeat['functions'][number]): void {
  const hb: WorkerHeartbeat = {
    workerId,
    // Long: the worker stays alive in the gateway's view while the test reads.
    intervalMs: 10_000,
    draining: false,
    memory: { budgetMiB: 4000, committedMiB: 100 },
    functions: [fn],
  };
  nc.publish(subj.heartbeat, JSONCodec<WorkerHeartbeat>().encode(hb));
}

describe('thaw get and thaw scale-to-zero', () => {
  it('shows each instance’s charged memory and start phases, and the removals by reason', async () => {
    // A registry function exists at once (its pull fails for want of a worker; only its status changes).
    const made = await cli(['deploy', '--name', 'kept', '--image', 'example.com/team/kept:1', '--min', '1']);
    expect(made.code, made.err).toBe(0);
    beat('w1', {
      name: 'kept',
      starting: 1,
      removed: { memory: 3, 'idle-age': 1 },
      instances: [
        { id: 'a1b2c3d4e5f6a7b8', state: 'frozen', busy: 0, revision: 1, memoryMiB: 11.46, start },
        { id: 'ffffeeeeddddcccc', state: 'running', busy: 1, revision: 1, memoryMiB: 128 },
      ],
    });
    beat('w2', { name: 'kept', starting: 0, removed: { requested: 4 }, instances: [] });
    await nc.flush();
    let got = { code: -1, out: '', err: '' };
    for (
      const deadline = Date.now() + 10_000;
      Date.now() < deadline;
      await new Promise((r) => setTimeout(r, 50))
    ) {
      got = await cli(['get', 'kept']);
      if (got.out.includes('requested')) break;
    }
    expect(got.code, got.err).toBe(0);
    expect(got.out).toMatch(/^idle:\s+kept frozen while memory allows$/m);
    expect(got.out).toMatch(/^removed:\s+8 \(requested 4, memory 3, idle-age 1\)$/m);
    const table = got.out.slice(got.out.indexOf('WORKER')).trimEnd().split('\n');
    expect(table.map((l) => l.split(/\s{2,}/))).toEqual([
      ['WORKER', 'INSTANCE', 'STATE', 'REVISION', 'BUSY', 'MEMORY', 'START'],
      [
        'w1',
        'a1b2c3d4e5f6',
        'frozen',
        '1',
        '0',
        '11.5 MiB',
        '92 ms (image 0, rootfs 8, network 21, runtime 38, app 25; cpu 61 ms)',
      ],
      ['w1', 'ffffeeeedddd', 'running', '1', '1', '128 MiB', '-'],
      ['w1', '-', 'starting', '1', '0', '-', '-'],
    ]);
    // --json is the API's answer as it is.
    const json = await cli(['get', 'kept', '--json']);
    expect(JSON.parse(json.out)).toMatchObject({
      removed: { memory: 3, 'idle-age': 1, requested: 4 },
      workers: [
        { worker: 'w1', instances: [{ memoryMiB: 11.46, start }, { memoryMiB: 128 }] },
        { worker: 'w2' },
      ],
    });
  });

  it('shows a maximum idle age when the function has one, and no removals as none', async () => {
    const res = await platform.fetch(`${platform.gatewayUrl}/v1/functions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'aged', image: 'example.com/team/aged:1', idleTtlMs: 90_000 }),
    });
    expect(res.status).toBe(202);
    const got = await cli(['get', 'aged']);
    expect(got.out).toMatch(/^idle:\s+removed after 90 s idle, above the minimum$/m);
    expect(got.out).toMatch(/^removed:\s+none$/m);
    expect(got.out).toContain('no instances (scaled to zero)');
  });

  it('asks every worker to scale a function to zero, and names a missing one', async () => {
    const seen: unknown[] = [];
    const sub = nc.subscribe(subj.functionScaleToZero, {
      callback: (_e, m) => seen.push(JSONCodec().decode(m.data)),
    });
    await nc.flush();
    const asked = await cli(['scale-to-zero', 'kept']);
    expect(asked).toMatchObject({ code: 0, err: '' });
    expect(asked.out).toMatch(
      /^asked: every worker removes the idle instances of "kept" above its minimum \(1\)/,
    );
    const json = await cli(['scale-to-zero', 'kept', '--json']);
    expect(JSON.parse(json.out)).toMatchObject({ name: 'kept', requested: 'scale-to-zero', minInstances: 1 });
    for (const deadline = Date.now() + 5000; seen.length < 2 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    sub.unsubscribe();
    expect(seen).toEqual([{ name: 'kept' }, { name: 'kept' }]);

    const missing = await cli(['scale-to-zero', 'nosuch']);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/FUNCTION_NOT_FOUND: no function named "nosuch"/);
    expect((await cli(['scale-to-zero'])).code).toBe(2);
  });
});
