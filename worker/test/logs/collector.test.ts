import { appendFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogEntry } from '@thaw/shared';
import { afterAll, describe, expect, it } from 'vitest';
import { LogCollector, type LogLimits } from '../../src/logs/collector.js';
import type { FunctionHost } from '../../src/pool/function-host.js';

// The collector reads real files; the pool around them is only what it looks at.
const dir = mkdtempSync(join(tmpdir(), 'thaw-logtest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fakePool(state: { frozen: boolean; lastUsed: number }) {
  const paths = { stdout: join(dir, 'out.log'), stderr: join(dir, 'err.log') };
  writeFileSync(paths.stdout, '');
  writeFileSync(paths.stderr, '');
  const inst = {
    container: {
      id: 'abcdef0123456789',
      logPaths: paths,
      get state() {
        return state.frozen ? 'frozen' : 'running';
      },
    },
    get lastUsed() {
      return state.lastUsed;
    },
  };
  const pool = { fn: { name: 'fn', revision: 3 }, instanceList: () => [inst] } as unknown as FunctionHost;
  return { pool, paths };
}

const limits: LogLimits = { linesPerFunction: 3, bytesPerFunction: 1000, maxLineBytes: 10, maxFileBytes: 64 };

describe('LogCollector', () => {
  it('reads stdout and stderr lines, keeps a partial line until it ends, and labels each', () => {
    const state = { frozen: false, lastUsed: 1 };
    const { pool, paths } = fakePool(state);
    const live: LogEntry[] = [];
    const c = new LogCollector({
      pools: () => [pool],
      onLines: (_fn, e) => live.push(...e),
      limits: limits,
      everyMs: 60_000,
    });
    appendFileSync(paths.stdout, 'one\ntw');
    appendFileSync(paths.stderr, 'oops\n');
    c.collect();
    expect(live.map((e) => [e.stream, e.line, e.revision])).toEqual([
      ['stdout', 'one', 3],
      ['stderr', 'oops', 3],
    ]);
    appendFileSync(paths.stdout, 'o\n');
    c.collect();
    expect(live.at(-1)).toMatchObject({ stream: 'stdout', line: 'two', instance: 'abcdef0123456789' });
    c.close();
  });

  it('keeps a bounded number of lines per function, cuts long lines and truncates big files', () => {
    const state = { frozen: false, lastUsed: 1 };
    const { pool, paths } = fakePool(state);
    const c = new LogCollector({
      pools: () => [pool],
      onLines: () => undefined,
      limits: limits,
      everyMs: 60_000,
    });
    appendFileSync(paths.stdout, 'a\nb\nc\nd\nthis line is far too long\n');
    c.collect();
    expect(c.lines('fn', 0, 100).map((e) => e.line)).toEqual(['c', 'd', 'this line  [cut]']);
    appendFileSync(paths.stdout, `${'x'.repeat(70)}\n`);
    c.collect();
    expect(statSync(paths.stdout).size).toBe(0); // past maxFileBytes, emptied once read
    appendFileSync(paths.stdout, 'after\n');
    c.collect();
    expect(c.lines('fn', 0, 1).map((e) => e.line)).toEqual(['after']);
    c.close();
  });

  it('cuts a file that reaches the bound between passes, and counts what was dropped', async () => {
    const state = { frozen: false, lastUsed: 1 };
    const { pool, paths } = fakePool(state);
    const live: string[] = [];
    const c = new LogCollector({
      pools: () => [pool],
      onLines: (_fn, e) => live.push(...e.map((x) => x.line)),
      limits: { ...limits, maxFileBytes: 1000 },
      everyMs: 60_000,
    });
    c.collect(); // the thread watches from here
    appendFileSync(paths.stdout, 'first\n');
    c.collect();
    // No pass runs now: the cutting thread alone empties the file once it passes the bound.
    appendFileSync(paths.stdout, `${'y'.repeat(1999)}\n`);
    const deadline = Date.now() + 5000;
    while (statSync(paths.stdout).size > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    expect(statSync(paths.stdout).size).toBe(0);
    appendFileSync(paths.stdout, 'next\n');
    c.collect();
    expect(live).toEqual([
      'first',
      '[thaw: at least 2000 bytes of stdout dropped: written faster than the worker reads logs]',
      'next',
    ]);
    c.close();
  });

  it('reads a frozen instance once, then not until it is used again', () => {
    const state = { frozen: true, lastUsed: 1 };
    const { pool, paths } = fakePool(state);
    const live: string[] = [];
    const c = new LogCollector({
      pools: () => [pool],
      onLines: (_fn, e) => live.push(...e.map((x) => x.line)),
      limits: limits,
      everyMs: 60_000,
    });
    appendFileSync(paths.stdout, 'early\n');
    c.collect();
    appendFileSync(paths.stdout, 'late\n');
    c.collect();
    expect(live).toEqual(['early']);
    state.lastUsed = 2; // a request thawed it and it froze again
    c.collect();
    expect(live).toEqual(['early', 'late']);
    c.close();
  });
});
