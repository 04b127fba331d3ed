import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RuntimeOptions } from './options.js';

/**
 * Options for a throw-away runtime (tests, benchmarks): its own state folders, cgroup parent,
 * bridge and a /24 subnet, so several can run on one host at once and each can check that it
 * left nothing behind.
 */
export function scratchRuntimeOptions(tag = 'test'): RuntimeOptions {
  const suffix = randomBytes(3).toString('hex');
  const stateDir = mkdtempSync(join(tmpdir(), `thaw-${tag}-`));
  return {
    stateDir,
    runDir: join('/run', `thaw-${tag}-${suffix}`),
    cgroupParent: `thaw-${tag}-${suffix}`,
    bridge: `th${suffix}`,
    subnet: `10.${randomInt(210, 250)}.${randomInt(0, 256)}.0/24`,
  };
}
