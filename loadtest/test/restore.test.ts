/**
 * The restore experiment's own logic: its settings, its reading of CPU times, and that it stops
 * cleanly, naming the failed check, where criu does not work. The checkpoint/restore run itself is
 * in restore-smoke.test.ts, which the suite runs only when CRIU_BIN names a criu that works here
 * (Debian 12's 3.17 fails `criu check` on Linux ≥ 6.13: docs/snapshot-restore.md).
 */
import { existsSync } from 'node:fs';
import { scratchRuntimeOptions } from '@thaw/runtime';
import { describe, expect, it } from 'vitest';
import { childCpuMs, criuWorks, restoreSettings, runRestore } from '../src/scenarios/restore.js';
import { residueOf, smokeResults } from './smoke.js';

const { dir: results } = smokeResults();
const settings = restoreSettings(process.env);

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
