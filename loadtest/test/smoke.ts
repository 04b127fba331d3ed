/**
 * What every scenario's smoke test needs: a results folder of its own, the JSON a scenario
 * wrote, and the checks that a closed bench platform left nothing behind.
 */
import { mkdtempSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTestResidue } from '@thaw/devkit';
import type { RuntimeOptions } from '@thaw/runtime';
import { afterAll, expect } from 'vitest';
import type { BenchPlatform } from '../src/platform.js';

/** A temporary results folder, removed after the file's tests, and a reader of what was written to it. */
export function smokeResults(): { dir: string; written: (file: string) => Promise<unknown> } {
  const dir = mkdtempSync(join(tmpdir(), 'loadtest-smoke-'));
  afterAll(() => rm(dir, { recursive: true, force: true }));
  return { dir, written: async (file) => JSON.parse(await readFile(join(dir, file), 'utf8')) };
}

/** The scenario wrote its chart next to its JSON: an SVG document and a PNG. */
export async function expectChart(dir: string, name: string): Promise<void> {
  expect(await readFile(join(dir, `${name}.svg`), 'utf8')).toMatch(
    /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/,
  );
  const png = await readFile(join(dir, `${name}.png`));
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
}

/** A p50/p99/n summary of `n` real samples. */
export const summary = (n: number) => ({ p50_ms: expect.any(Number), p99_ms: expect.any(Number), n });
export function expectOrdered(s: { p50_ms: number; p99_ms: number }): void {
  expect(s.p50_ms).toBeGreaterThan(0);
  expect(s.p99_ms).toBeGreaterThanOrEqual(s.p50_ms);
}

/** What this scratch runtime left: netns, links, mounts, cgroups, firewall chains, folders. */
export function residueOf(rt: RuntimeOptions): string[] {
  const names = [rt.cgroupParent, rt.stateDir, rt.runDir, rt.bridge];
  return findTestResidue().filter((r) => names.some((n) => r.includes(n)));
}

/** True when nothing listens on the URL's port any more. */
export function refused(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const sock = connect({ host: hostname, port: Number(port) });
    sock.once('connect', () => {
      sock.destroy();
      resolve(false);
    });
    sock.once('error', () => resolve(true));
  });
}

export async function expectClosedAndClean(b: BenchPlatform): Promise<void> {
  await b.close();
  const { platform } = b;
  expect(platform.worker?.exitCode ?? platform.worker?.signalCode).not.toBeNull();
  expect(platform.gateway.exitCode ?? platform.gateway.signalCode).not.toBeNull();
  expect(await refused(platform.natsUrl)).toBe(true);
  expect(await refused(platform.redisUrl)).toBe(true);
  expect(residueOf(b.rt)).toEqual([]);
}
