import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { type Platform, startPlatform, workerEnvFor } from '@thaw/devkit';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { run } from '../src/index.js';

/** A platform for CLI tests, a scratch folder, and the CLI run in-process against both. */
export interface CliPlatform {
  platform: Platform;
  /** The test's own folder under /tmp, removed on close. */
  tmp: string;
  /** `thaw <args>` against this platform: exit code and what it wrote. */
  cli(args: string[]): Promise<{ code: number; out: string; err: string }>;
  close(): Promise<void>;
}

/** Starts one gateway and one worker on a scratch runtime named after `id`. */
export async function startCliPlatform(id: string): Promise<CliPlatform> {
  const rt = scratchRuntimeOptions(id);
  const tmp = mkdtempSync(`/tmp/thaw-${id}-`);
  const platform = await startPlatform({
    gatewayPort: 0,
    prefix: `${id}${process.pid}`,
    logs: 'buffer',
    workerEnv: workerEnvFor(rt),
  });
  return {
    platform,
    tmp,
    async cli(args) {
      let out = '';
      let err = '';
      const code = await run(
        args,
        { out: (s) => (out += s), err: (s) => (err += s), tty: false },
        { ...process.env, THAW_URL: platform.gatewayUrl, THAW_TOKEN: platform.token },
      );
      return { code, out, err };
    },
    async close() {
      await platform.close();
      for (const dir of [rt.stateDir, rt.runDir, tmp]) await rm(dir, { recursive: true, force: true });
    },
  };
}
