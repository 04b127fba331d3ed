// Cold starts, A against B in one run (docs/cold-start.md): serial starts of node-hello and
// busybox-httpd, wall time create → ready and CPU = this process + every child it reaped + the
// container's cgroup, the next start's preparation included. Needs root and a built runtime.
//   node runtime/test/bench/cold-ab.mjs [starts]                   B: ip network, prepared ahead
//   NOPREP=1 node runtime/test/bench/cold-ab.mjs [starts]  A: nothing prepared ahead
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

const R = await import(new URL('../../dist/index.js', import.meta.url).href);
const T = await import(new URL('../../dist/testimages/index.js', import.meta.url).href);
const N = Number(process.argv[2] ?? 12);
const opts = {
  ...R.scratchRuntimeOptions('bb'),
  ...(process.env.NOPREP ? { maxPrepared: 0 } : {}),
};
const store = new R.ImageStore(join(opts.stateDir, 'images'));
const imgs = {};
for (const n of ['node-hello', 'busybox-httpd']) {
  const b = await T.buildTestImage(n, 'oci', join(opts.stateDir, 'archives'));
  imgs[n] = await store.importArchive(b.path);
}
const { runtime } = await R.Runtime.open(opts);
const TICK = 10;
const kids = () => {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(f[13]) + Number(f[14])) * TICK;
};
const med = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
};
for (const [name, port] of [
  ['node-hello', 8080],
  ['busybox-httpd', 8080],
]) {
  for (let w = 0; w < 2; w++) {
    const c = await runtime.create({ image: imgs[name], port });
    await c.destroy();
  }
  if (runtime.prepare && !process.env.NOPREP) {
    await runtime.prepare?.({ image: imgs[name], port });
    await new Promise((r) => setTimeout(r, 300));
  }
  const wall = [],
    cpu = [],
    phases = [];
  for (let i = 0; i < N; i++) {
    const k0 = kids();
    const s0 = process.cpuUsage();
    const t0 = performance.now();
    const c = await runtime.create({ image: imgs[name], port });
    const t = performance.now() - t0;
    const ccpu = c.stats().cpuNs / 1e6;
    // The next start's preparation is this start's cost too: inside the window.
    if (runtime.prepare && !process.env.NOPREP) await runtime.prepare({ image: imgs[name], port });
    const s = process.cpuUsage(s0);
    const k = kids() - k0;
    wall.push(t);
    cpu.push(k + (s.user + s.system) / 1000 + ccpu);
    if (c.startPhases) phases.push(c.startPhases);
    await c.destroy();
    if (runtime.prepare && !process.env.NOPREP) {
      await runtime.prepare?.({ image: imgs[name], port });
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  const ph = phases.length
    ? Object.fromEntries(
        Object.keys(phases[0]).map((k) => [k, +med(phases.map((p) => p[k] ?? 0)).toFixed(1)]),
      )
    : {};
  console.log(
    name,
    'wall p50',
    med(wall).toFixed(1),
    'ms; cpu p50 (serial, process-wide)',
    med(cpu).toFixed(1),
    'ms',
    JSON.stringify(ph),
  );
}
await runtime.close();
await rm(opts.stateDir, { recursive: true, force: true });
