/**
 * The restore experiment run tiny: both images checkpointed and restored for real, through runc
 * and criu, into a scratch runtime that leaves nothing behind. Opt-in: the suite includes this
 * file only when CRIU_BIN names a criu (≥ 4.1 on Linux ≥ 6.13; docs/snapshot-restore.md), e.g.
 * `CRIU_BIN=/opt/thaw-criu/criu/criu npx vitest run test/restore-smoke.test.ts` in loadtest/.
 * The experiment is not part of thaw, so the default suite does not need criu.
 */
import { scratchRuntimeOptions } from '@thaw/runtime';
import { beforeAll, describe, expect, it } from 'vitest';
import { criuWorks, RESTORE_IMAGES, restoreSettings, runRestore } from '../src/scenarios/restore.js';
import { expectOrdered, residueOf, smokeResults, summary } from './smoke.js';

const { dir: results, written } = smokeResults();
const settings = restoreSettings(process.env);

describe('restore scenario', () => {
  beforeAll(async () => {
    const check = await criuWorks(settings.criu);
    if (!check.ok) throw new Error(`${settings.criu} fails criu check:\n${check.output}`);
  });

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
