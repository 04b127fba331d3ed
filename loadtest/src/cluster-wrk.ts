/**
 * The `cluster` scenario's direct baseline: wrk run inside a worker host's network namespace
 * (its containers' bridge is there, out of this machine's reach) against one of its containers.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WorkerHost } from '@thaw/devkit';
import { parseWrk, type WrkRun } from './wrk.js';

/** The URL of a running container of the host (only a created one has a state.json). */
export async function directUrl(h: WorkerHost): Promise<string> {
  const dir = join(h.runtime.stateDir, 'containers');
  for (const bundle of await readdir(dir)) {
    const text = await readFile(join(dir, bundle, 'state.json'), 'utf8').catch(() => undefined);
    if (!text) continue;
    const { ip, port } = JSON.parse(text) as { ip: string; port: number };
    return `http://${ip}:${port}/bench`;
  }
  throw new Error(`no running container on worker host ${h.workerId}`);
}

/** wrk (Debian's) in the namespace `netns`: nsenter enters only its network. */
export function runWrkIn(netns: string, r: WrkRun): Promise<ReturnType<typeof parseWrk>> {
  const threads = Math.min(r.connections, 2);
  const args = [
    `--net=/run/netns/${netns}`,
    '--',
    'wrk',
    `-t${threads}`,
    `-c${r.connections}`,
    `-d${r.seconds}s`,
    '--latency',
    r.url,
  ];
  return new Promise((resolve, reject) => {
    execFile('nsenter', args, { timeout: (r.seconds + 30) * 1000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`wrk in ${netns} failed: ${stderr || err.message}`));
      try {
        resolve(parseWrk(stdout));
      } catch (e) {
        reject(e);
      }
    });
  });
}
