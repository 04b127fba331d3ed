import { rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { findTestResidue } from '@thaw/devkit';
import { Runtime, type RuntimeOptions, residueItems } from '@thaw/runtime';
import { expect } from 'vitest';

/**
 * After a platform stopped: a runtime opened on the same options reclaims nothing and finds no
 * residue, and the host holds nothing naming it (or `extraNames`: a worker host's netns, a data
 * folder). Removes the runtime's folders on the way.
 */
export async function expectNothingLeft(rt: RuntimeOptions, extraNames: string[] = []): Promise<void> {
  const { runtime, reclaimed } = await Runtime.open(rt);
  expect(reclaimed).toEqual([]);
  await runtime.close();
  expect(residueItems(await runtime.residue())).toEqual([]);
  await rm(rt.stateDir, { recursive: true, force: true });
  await rm(rt.runDir, { recursive: true, force: true });
  const names = [rt.cgroupParent, rt.stateDir, rt.runDir, rt.bridge, ...extraNames];
  expect(findTestResidue().filter((r) => names.some((n) => r.includes(n)))).toEqual([]);
}

/** Whether a connection to 127.0.0.1:port is refused (the server that listened there is gone). */
export async function portRefused(port: number): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}
