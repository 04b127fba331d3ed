import { describe, expect, it } from 'vitest';
import { loadEnv } from '../../src/env.js';

describe('worker environment', () => {
  it('FREEZE_AFTER_MS takes milliseconds or `never` (idle instances kept running: the baseline)', () => {
    expect(loadEnv({}).FREEZE_AFTER_MS).toBe(100);
    expect(loadEnv({ FREEZE_AFTER_MS: '250' }).FREEZE_AFTER_MS).toBe(250);
    expect(loadEnv({ FREEZE_AFTER_MS: 'never' }).FREEZE_AFTER_MS).toBe(Number.POSITIVE_INFINITY);
    expect(() => loadEnv({ FREEZE_AFTER_MS: 'sometimes' })).toThrow(/FREEZE_AFTER_MS/);
    expect(() => loadEnv({ FREEZE_AFTER_MS: '-1' })).toThrow(/FREEZE_AFTER_MS/);
  });
});
