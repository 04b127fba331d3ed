import { describe, expect, it } from 'vitest';
import { LogLines } from '../ui/log-lines';
import type { LogEntry } from '../ui/types';

const entry = (t: string, line: string, instance = 'i1'): LogEntry => ({
  t,
  instance,
  stream: 'stdout',
  line,
});
const ndjson = (...es: LogEntry[]) => es.map((e) => `${JSON.stringify(e)}\n`).join('');

describe('LogLines', () => {
  it('reads entries split anywhere across chunks', () => {
    const l = new LogLines();
    const text = ndjson(entry('2026-12-06T10:00:00.000Z', 'a'), entry('2026-12-06T10:00:01.000Z', 'b'));
    const got = [...l.push(text.slice(0, 7)), ...l.push(text.slice(7, 60)), ...l.push(text.slice(60))];
    expect(got).toEqual([
      { entry: entry('2026-12-06T10:00:00.000Z', 'a') },
      { entry: entry('2026-12-06T10:00:01.000Z', 'b') },
    ]);
  });

  it("shows the gateway's plain-text lines as notes", () => {
    const l = new LogLines();
    expect(l.push('[thaw: this follower fell too far behind; reconnect with since=...]\n')).toEqual([
      { note: '[thaw: this follower fell too far behind; reconnect with since=...]' },
    ]);
  });

  it('resumes from the last time, skipping what that millisecond already showed', () => {
    const l = new LogLines();
    expect(l.since('15m')).toBe('15m');
    const t = '2026-12-06T10:00:05.000Z';
    l.push(ndjson(entry('2026-12-06T10:00:04.000Z', 'old'), entry(t, 'x'), entry(t, 'y')));
    l.push('{"t":"2026-12-06T10:00:0'); // cut off by the disconnect
    expect(l.since('15m')).toBe(t);
    l.restart();
    // The new follow sends that millisecond again, and what came after.
    const again = l.push(
      ndjson(entry(t, 'x'), entry(t, 'y'), entry(t, 'z'), entry('2026-12-06T10:00:06.000Z', 'w')),
    );
    expect(again.map((i) => ('entry' in i ? i.entry.line : i.note))).toEqual(['z', 'w']);
    expect(l.since('15m')).toBe('2026-12-06T10:00:06.000Z');
  });
});
