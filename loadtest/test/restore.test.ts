/**
 * The restore experiment run tiny: both images checkpointed and restored for real, through runc
 * and criu, into a scratch runtime that leaves nothing behind. It needs a criu that passes
 * `criu check` on this kernel (CRIU_BIN, else `criu` on PATH): Debian 12's 3.17 does not know the
 * vvar_vclock mapping of Linux ≥ 6.13 and fails there (docs/snapshot-restore.md), so without
 * one the smoke run is skipped and says why.
 */
import { existsSync } from 'node:fs';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { describe, expect, it } from 'vitest';
import {
  childCpuMs,
  criuWorks,
  RESTORE_IMAGES,
  restoreSettings,
  runRestore,
} from '../src/scenarios/restore.js';
import { expectOrdered, residueOf, smokeResults, summary } from './smoke.js';

const { dir: results, written } = smokeResults();
const settings = restoreSettings(process.env);
const check = await criuWorks(settings.criu);
if (!check.ok) console.warn(`restore smoke skipped: ${settings.criu} fails criu check:\n${check.output}`);

describe('restore settings', () => {
  it('use criu from PATH unless CRIU_BIN names one', () => {
    expect(restoreSettings({}).criu).toBe('criu');
    expect(restoreSettings({ CRIU_BIN: '/opt/criu' }).criu).toBe('/opt/criu');
  });

  it("read runc and criu's CPU time from bash's times: the children's line, user plus system", () => {
    expect(childCpuMs('0m0.001s 0m0.002s\n0m0.012s 0m1.020s\n')).toBeCloseTo(1032, 6);
    expect(childCpuMs('0m0.000s 0m0.000s\n1m2.500s 0m0.000s\n')).toBeCloseTo(62_500, 6);
    expect(childCpuMs('')).toBe(0);
  });

  it('say a criu that fails its check does not work, with its output', async () => {
    expect(await criuWorks('false')).toEqual({ ok: false, output: expect.any(String) });
    expect((await criuWorks('/nonexistent/criu')).output).toMatch(/ENOENT/);
  });
});

describe('restore without a working criu', () => {
  it('stops before any container, names the failed check, and removes the scratch state folder', async () => {
    const rt = scratchRuntimeOptions('ltrestorebad');
    await expect(
      runRestore(rt, { ...settings, criu: 'false', runs: 1, resultsDir: results }),
    ).rejects.toThrow(/criu check failed with false/);
    expect(existsSync(rt.stateDir)).toBe(false);
    expect(residueOf(rt)).toEqual([]);
  });
});

describe.skipIf(!check.ok)('restore scenario', () => {
  it('restores a checkpointed instance of each image into a prepared slot, and leaves nothing behind', async () => {
    const rt = scratchRuntimeOptions('ltrestore');
    const returned = await runRestore(rt, { ...settings, runs: 2, resultsDir: results });
    const out = (await written('restore.json')) as typeof returned;
    expect(out).toEqual(returned);
    for (const name of RESTORE_IMAGES) {
      const r = out[name];
      expect(r).toEqual({
        create_first_response: summary(2),
        create_runtime_app: summary(2),
        restore_first_response: summary(2),
        checkpoint_ms: expect.any(Number),
        image_bytes: expect.any(Number),
        memory_cold_bytes: expect.any(Number),
        memory_restored_bytes: expect.any(Number),
        cpu_cold_ms: expect.any(Number),
        cpu_restored_ms: expect.any(Number),
      });
      // runc and criu did work, measured per child.
      expect(r.cpu_restored_ms).toBeGreaterThan(0);
      expectOrdered(r.restore_first_response);
      expect(r.image_bytes).toBeGreaterThan(0);
      // Restored processes answered and are charged to their cgroup like cold ones.
      expect(r.memory_restored_bytes).toBeGreaterThan(0);
    }
    expect(residueOf(rt)).toEqual([]);
  }, 180_000);
});
