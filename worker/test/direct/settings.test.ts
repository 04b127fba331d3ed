/**
 * Whether a worker serves the direct link (THAW_DIRECT, or NATS's TLS settings when it is unset),
 * and the refused peers' log line (one per period, with a count). Pure logic: no sockets.
 */
import type { Logger } from '@thaw/shared';
import { describe, expect, it } from 'vitest';
import { RefusalLog } from '../../src/direct/refusals.js';
import { directLink, loadEnv } from '../../src/env.js';

const TLS_WHY =
  'direct link off: NATS uses TLS and the link is plain TCP; set THAW_DIRECT=on to use it anyway';

describe('directLink', () => {
  const cases: [string, Record<string, string>, { on: boolean; why?: string }][] = [
    ['unset, NATS without TLS', {}, { on: true }],
    ['unset, a NATS CA', { NATS_TLS_CA: '/etc/nats/ca.pem' }, { on: false, why: TLS_WHY }],
    [
      'unset, a NATS client certificate',
      { NATS_TLS_CERT: '/c.pem', NATS_TLS_KEY: '/k.pem' },
      { on: false, why: TLS_WHY },
    ],
    [
      'unset, a tls:// server in the list',
      { NATS_URL: 'nats://a:4222, tls://b:4222' },
      { on: false, why: TLS_WHY },
    ],
    ['on, with TLS: the setting wins', { THAW_DIRECT: 'on', NATS_TLS_CA: '/ca.pem' }, { on: true }],
    ['off, without TLS', { THAW_DIRECT: 'off' }, { on: false }],
  ];
  for (const [what, env, expected] of cases) {
    it(what, () => {
      expect(directLink(loadEnv(env))).toEqual(expected);
    });
  }

  it('refuses another value', () => {
    expect(() => loadEnv({ THAW_DIRECT: 'yes' })).toThrow(/THAW_DIRECT/);
  });
});

describe('RefusalLog', () => {
  /** What the log receives: warn(fields, message), as pino's Logger is called. */
  function captured() {
    const lines: { msg: string; refused: number; last: string }[] = [];
    const log = {
      warn: (fields: { refused: number; last: string }, msg: string) => lines.push({ ...fields, msg }),
    } as unknown as Logger;
    return { lines, log };
  }

  it('logs the first refusal at once, those within the period as one counted line when it ends', async () => {
    const { lines, log } = captured();
    const refusals = new RefusalLog({ log, everyMs: 200 });
    refusals.refused('wrong token', '10.0.0.1:1');
    for (let i = 0; i < 40; i++) refusals.refused(`no hello ${i}`, '10.0.0.2:2');
    await new Promise((r) => setTimeout(r, 50));
    expect(lines.map((l) => [l.refused, l.last])).toEqual([[1, 'wrong token']]);
    await new Promise((r) => setTimeout(r, 250));
    expect(lines.map((l) => [l.refused, l.last])).toEqual([
      [1, 'wrong token'],
      [40, 'no hello 39'],
    ]);
    expect(lines[1]?.msg).toMatch(/^40 direct-link peers refused since \S+, last: no hello 39$/);
    refusals.flush();
    expect(lines).toHaveLength(2);
  });
});
