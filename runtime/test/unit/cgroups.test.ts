import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cgroupfsDriver, sliceDir, systemdDriver } from '../../src/container/cgroups/index.js';

// A fake /sys/fs/cgroup in a temporary folder: plain directories and files stand in for the
// kernel's, so the drivers' paths and removals are checked on any host, without root. A plain
// directory with a cgroup.procs file in it cannot be rmdir'ed as a cgroup can: the drivers get a
// fake rmdir that records what they remove.
const roots: string[] = [];
function fakeRoot(layout: 'v2' | 'hybrid'): string {
  const root = mkdtempSync(join(tmpdir(), 'thaw-cgroup-fake-'));
  roots.push(root);
  if (layout === 'v2') writeFileSync(join(root, 'cgroup.controllers'), 'cpu memory pids\n');
  else for (const c of ['freezer', 'memory', 'unified']) mkdirSync(join(root, c));
  return root;
}
afterEach(async () => {
  for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
});

describe('the cgroupfs driver', () => {
  it('names a container /<parent>/<id>, under the root on pure v2 hosts', () => {
    const root = fakeRoot('v2');
    const d = cgroupfsDriver({ root });
    expect([d.kind, d.manager]).toEqual(['v2', 'cgroupfs']);
    expect(d.pathOf('thaw-a', 'abc')).toBe('/thaw-a/abc');
    expect(d.parentDirs('thaw-a')).toEqual([join(root, 'thaw-a')]);
  });

  it('drives hybrid hosts like v1: the parent in every hierarchy that has it', () => {
    const root = fakeRoot('hybrid');
    for (const c of ['freezer', 'unified']) mkdirSync(join(root, c, 'thaw-a'));
    const d = cgroupfsDriver({ root });
    expect(d.kind).toBe('v1');
    expect(d.pathOf('thaw-a', 'abc')).toBe('/thaw-a/abc');
    expect(d.parentDirs('thaw-a')).toEqual([
      join(root, 'freezer', 'thaw-a'),
      join(root, 'unified', 'thaw-a'),
    ]);
  });

  it("removes a container's empty cgroups and keeps one with processes in it", async () => {
    const root = fakeRoot('hybrid');
    for (const c of ['freezer', 'memory']) {
      mkdirSync(join(root, c, 'thaw-a', 'abc'), { recursive: true });
      writeFileSync(join(root, c, 'thaw-a', 'abc', 'cgroup.procs'), c === 'memory' ? '42\n' : '');
    }
    const removed: string[] = [];
    const d = cgroupfsDriver({ root, rmdir: (dir) => removed.push(dir) });
    await d.remove('thaw-a', 'abc');
    expect(removed).toEqual([join(root, 'freezer', 'thaw-a', 'abc')]);
  });

  it('refuses a host with neither cgroup v2 nor a v1 freezer', () => {
    const root = mkdtempSync(join(tmpdir(), 'thaw-cgroup-fake-'));
    roots.push(root);
    expect(() => cgroupfsDriver({ root })).toThrow(/no cgroup freezer/);
  });
});

describe('the systemd driver (pure v2 hosts; checked with a fake tree, this host is hybrid)', () => {
  it('nests slices the way systemd does, one level per dash', () => {
    expect(sliceDir('thaw.slice')).toBe('thaw.slice');
    expect(sliceDir('thaw-test-ab12.slice')).toBe('thaw.slice/thaw-test.slice/thaw-test-ab12.slice');
  });

  it('names a container slice:prefix:name, and finds its scope inside the slice', () => {
    const root = fakeRoot('v2');
    const d = systemdDriver({ root });
    expect([d.kind, d.manager]).toEqual(['v2', 'systemd']);
    expect(d.pathOf('thaw-w1', 'abc')).toBe('thaw-w1.slice:thaw:abc');
    const parent = join(root, 'thaw.slice', 'thaw-w1.slice');
    expect(d.parentDirs('thaw-w1')).toEqual([parent]);
  });

  it("removes a scope left behind, then stops the parent's slice through systemctl", async () => {
    const root = fakeRoot('v2');
    const parent = join(root, 'thaw.slice', 'thaw-w1.slice');
    mkdirSync(join(parent, 'thaw-abc.scope'), { recursive: true });
    writeFileSync(join(parent, 'thaw-abc.scope', 'cgroup.procs'), '');
    const calls: string[][] = [];
    const d = systemdDriver({
      root,
      rmdir: (dir) => calls.push(['rmdir', dir]),
      run: async (bin, args) => {
        calls.push([bin, ...args]);
        return '';
      },
    });
    await d.remove('thaw-w1', 'abc');
    await d.removeParent('thaw-w1');
    expect(calls).toEqual([
      ['rmdir', join(parent, 'thaw-abc.scope')],
      ['systemctl', 'stop', 'thaw-w1.slice'],
    ]);
  });

  it('refuses a host whose root is not cgroup v2', () => {
    expect(() => systemdDriver({ root: fakeRoot('hybrid') })).toThrow(/pure cgroup v2/);
  });
});
