import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  deployFunction,
  type Platform,
  startPlatform,
  unwrap,
  uploadImage,
  workerEnvFor,
} from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { buildTestImage } from '@thaw/runtime/testimages';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitingImage, slowStartImage } from './function-images.js';
import { expectNothingLeft, portRefused } from './leftovers.js';

const rt = scratchRuntimeOptions('upd');
let platform: Platform;
let digest: string;
/** An image that imports fine and whose process exits at start. */
let exiting: string;
/** An image that starts listening $START_DELAY seconds after it starts. */
let slow: string;
/** A second gateway on the same NATS and Redis. */
let other: string;

beforeAll(async () => {
  platform = await startPlatform({
    gatewayPort: 0,
    prefix: `upd${process.pid}`,
    logs: 'buffer',
    workerEnv: workerEnvFor(rt),
  });
  other = await platform.addGateway();
  const image = await buildTestImage('node-hello', 'oci', join(rt.stateDir, 'archives'));
  ({ digest } = await uploadImage(platform.gatewayUrl, image.path, platform.token));
  const bad = await exitingImage(join(rt.stateDir, 'archives'));
  ({ digest: exiting } = await uploadImage(platform.gatewayUrl, bad.path, platform.token));
  const late = await slowStartImage(join(rt.stateDir, 'archives'));
  ({ digest: slow } = await uploadImage(platform.gatewayUrl, late.path, platform.token));
  await deployFunction(
    platform.gatewayUrl,
    { name: 'upd', image: digest, env: { GREETING: 'one' } },
    platform.token,
  );
}, 180_000);

afterAll(async () => {
  await platform?.close();
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function call(gateway: string, path: string, init?: RequestInit): Promise<Answer> {
  const res = await platform.fetch(`${gateway}${path}`, init);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const put = (gateway: string, spec: Record<string, unknown>, name = 'upd') =>
  call(gateway, `/v1/functions/${name}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ image: digest, ...spec }),
  });

/** The stored record, without the instances (those come from heartbeats and change). */
async function record(): Promise<Record<string, unknown>> {
  const { workers: _live, ...rest } = (await call(platform.gatewayUrl, '/v1/functions/upd')).body;
  return rest;
}

/** The revisions of the function's instances, once every one is `want` (or the last seen at the deadline). */
async function revisionsSettle(want: number): Promise<number[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const fn = unwrap(await platform.api.GET('/v1/functions/{name}', { params: { path: { name: 'upd' } } }));
    const revisions = fn.workers.flatMap((w) => w.instances.map((i) => i.revision));
    if ((revisions.length > 0 && revisions.every((r) => r === want)) || Date.now() > deadline)
      return revisions;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('function updates', () => {
  it('a bad image or one that cannot start leaves the function as it was, serving the old revision', async () => {
    const before = await record();
    expect(before).toMatchObject({ revision: 1, env: { GREETING: 'one' } });

    // Nothing listens on port 1: the pull fails before anything is stored.
    const unpullable = await put(platform.gatewayUrl, { image: 'localhost:1/team/nosuch:1' });
    expect(unpullable.status).toBe(502);
    expect(unpullable.body).toMatchObject({ error: { code: 'IMAGE_PULL_FAILED' } });

    // An uploaded image whose process exits before it listens.
    const unstartable = await put(platform.gatewayUrl, { image: exiting, env: { GREETING: 'two' } });
    expect(unstartable.status).toBe(502);
    expect(unstartable.body).toMatchObject({
      error: { code: 'FUNCTION_START_FAILED', message: expect.stringContaining('exits at start on purpose') },
    });

    expect(await record()).toEqual(before);
    const served = await call(platform.gatewayUrl, '/fn/upd/env');
    expect(served.status).toBe(200);
    expect(served.body.GREETING).toBe('one');
    // No instance of the refused revision is left running.
    expect(await revisionsSettle(1)).toEqual(expect.arrayContaining([1]));
    expect((await revisionsSettle(1)).filter((r) => r !== 1)).toEqual([]);
  }, 90_000);

  it('of two updates racing through two gateways one lands, the other is UPDATE_CONFLICT, and the winner runs', async () => {
    const { revision } = (await record()) as { revision: number };
    // Each update starts the next revision on the worker (a cold start, ~1 s) before storing
    // it: sent at once, the two overlap, and only one may start and store that revision.
    const answers = await Promise.all([
      put(platform.gatewayUrl, { env: { GREETING: 'left' } }),
      put(other, { env: { GREETING: 'right' } }),
    ]);
    expect(answers.map((a) => a.status).sort(), JSON.stringify(answers)).toEqual([200, 409]);
    const winner = answers.find((a) => a.status === 200)?.body as {
      revision: number;
      env: { GREETING: string };
    };
    const loser = answers.find((a) => a.status === 409)?.body;
    expect(loser).toMatchObject({
      error: { code: 'UPDATE_CONFLICT', message: expect.stringContaining('"upd"') },
    });
    expect(winner.revision).toBe(revision + 1);
    expect(await record()).toMatchObject({ revision: revision + 1, env: winner.env });
    // Every gateway serves the winner's spec, from instances of the new revision only.
    for (const gw of [platform.gatewayUrl, other]) {
      const served = await call(gw, '/fn/upd/env');
      expect(served.body.GREETING, gw).toBe(winner.env.GREETING);
    }
    expect((await revisionsSettle(revision + 1)).filter((r) => r !== revision + 1)).toEqual([]);
    // The loser can read the function again and send its update: it lands.
    const again = await put(other, { env: { GREETING: 'right' } });
    expect(again).toMatchObject({ status: 200, body: { revision: revision + 2 } });
    expect((await call(platform.gatewayUrl, '/fn/upd/env')).body.GREETING).toBe('right');
  }, 90_000);

  it('an update racing a delete answers UPDATE_CONFLICT; the function stays deleted, on no worker', async () => {
    await deployFunction(
      platform.gatewayUrl,
      { name: 'gone', image: slow, env: { START_DELAY: '0' } },
      platform.token,
    );
    const bundles = async () => (await readdir(join(rt.stateDir, 'containers'))).length;
    const before = await bundles();
    // The new revision takes 3 s to listen: the delete lands while it starts (its container,
    // on this host, is there to see; the worker reports a new revision only once it serves).
    const updating = put(platform.gatewayUrl, { image: slow, env: { START_DELAY: '3' } }, 'gone');
    const deadline = Date.now() + 10_000;
    while ((await bundles()) <= before) {
      if (Date.now() > deadline) throw new Error('the new revision was never seen starting');
      await new Promise((r) => setTimeout(r, 20));
    }
    const held = async () => {
      const { workers } = unwrap(await platform.api.GET('/v1/workers'));
      return workers.flatMap((w) => w.functions).filter((f) => f.name === 'gone');
    };
    expect((await platform.fetch(`${other}/v1/functions/gone`, { method: 'DELETE' })).status).toBe(204);
    const answer = await updating;
    expect(answer).toMatchObject({ status: 409, body: { error: { code: 'UPDATE_CONFLICT' } } });
    expect((await call(platform.gatewayUrl, '/v1/functions/gone')).status).toBe(404);
    expect((await call(other, '/fn/gone/')).body).toMatchObject({ error: { code: 'FUNCTION_NOT_FOUND' } });
    // The instance that was starting does not stay behind on the worker.
    const gone = Date.now() + 15_000;
    let left = await held();
    while (left.length > 0 && Date.now() < gone) {
      await new Promise((r) => setTimeout(r, 100));
      left = await held();
    }
    expect(left).toEqual([]);
  }, 90_000);

  it('leaves nothing behind once the platform stops: containers, runtime state, servers', async () => {
    const ports = [platform.natsUrl, platform.redisUrl].map((u) => Number(new URL(u).port));
    await platform.close();
    expect(platform.gateway.exitCode !== null || platform.gateway.signalCode !== null).toBe(true);
    expect(platform.worker?.exitCode !== null || platform.worker?.signalCode !== null).toBe(true);
    await expectNothingLeft(rt);
    // NATS and Redis, started for this file, are gone: nothing answers on their ports.
    for (const port of ports) expect(await portRefused(port), `port ${port} still answers`).toBe(true);
  }, 120_000);
});
