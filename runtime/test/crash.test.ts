import { fork } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ImageStore, Runtime, scratchRuntimeOptions } from '../src/index.js';
import { buildTestImage } from '../src/testimages/index.js';
import { leftovers } from './leftovers.js';

const opts = scratchRuntimeOptions('crash');
const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));

// The process that gets killed: it holds 5 containers, 3 of them frozen.
const holder = `
const { Runtime, ImageStore } = await import(${JSON.stringify(dist)});
const opts = JSON.parse(process.env.OPTS);
const image = await new ImageStore(opts.stateDir + '/images').get(process.env.DIGEST);
const { runtime } = await Runtime.open(opts);
const ids = [];
for (let i = 0; i < 5; i++) {
  const c = await runtime.create({ image, port: 8080 });
  if (i < 3) await c.freeze();
  ids.push(c.id);
}
process.send({ ids });
setInterval(() => {}, 1000);
`;

afterAll(async () => {
  await rm(opts.stateDir, { recursive: true, force: true });
  await rm(opts.runDir, { recursive: true, force: true });
});

describe('crash safety', () => {
  it('a runtime started after SIGKILL of its predecessor removes everything it left', async () => {
    const built = await buildTestImage('busybox-httpd', 'oci', join(opts.stateDir, 'archives'));
    const image = await new ImageStore(join(opts.stateDir, 'images')).importArchive(built.path);
    const script = join(opts.stateDir, 'holder.mjs');
    await writeFile(script, holder);
    const child = fork(script, { env: { ...process.env, OPTS: JSON.stringify(opts), DIGEST: image.digest } });
    const { ids } = await new Promise<{ ids: string[] }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as { ids: string[] }));
      child.once('exit', (code) => reject(new Error(`holder exited early with ${code}`)));
    });
    expect(ids).toHaveLength(5);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const { runtime, reclaimed } = await Runtime.open(opts);
    expect([...reclaimed].sort()).toEqual([...ids].sort());
    await runtime.close();
    expect(await leftovers(runtime, opts, 'closed')).toEqual([]);
  }, 60_000);
});
