import { describe, expect, it } from 'vitest';
import { LIMITS, type Limit, parseEnv, updatedSpec } from '../ui/spec';
import type { FunctionRecord } from '../ui/types';

const record: FunctionRecord = {
  name: 'hello',
  image: 'registry.example:5000/team/hello:1',
  imageDigest: 'sha256:abc',
  revision: 3,
  status: 'ready',
  env: { A: '1' },
  memoryMiB: 128,
  timeoutMs: 30000,
  minInstances: 0,
  maxInstances: 10,
  concurrency: 1,
  diskMiB: 256,
  port: 8080,
  asyncConcurrency: 10,
  asyncAttempts: 3,
  protocol: 'http',
  invokeAuth: 'token',
  schedules: [{ cron: '*/5 * * * *', method: 'POST', path: '/tick', body: '' }],
  triggers: [],
  createdAt: '2026-12-06T10:00:00.000Z',
  updatedAt: '2026-12-06T10:05:00.000Z',
};

describe('parseEnv', () => {
  it('reads KEY=value lines: values keep their = and spaces, blank lines are skipped', () => {
    expect(parseEnv('A=1\n\nB = x=y \nC=')).toEqual({ A: '1', B: ' x=y ', C: '' });
    expect(parseEnv('')).toEqual({});
  });

  it('names the line that is not KEY=value', () => {
    expect(() => parseEnv('A=1\nnot a pair')).toThrow('env line 2: expected KEY=value');
    expect(() => parseEnv('=value')).toThrow('env line 1');
  });
});

describe('updatedSpec', () => {
  it('sends the whole spec back: the edits, every other field as read, nothing the gateway sets', () => {
    const limits = Object.fromEntries(LIMITS.map((l) => [l, String(record[l])])) as Record<Limit, string>;
    const spec = updatedSpec(record, 'GREETING=hallo', { ...limits, timeoutMs: '5000' });
    expect(spec).toEqual({
      name: 'hello',
      image: 'registry.example:5000/team/hello:1',
      env: { GREETING: 'hallo' },
      memoryMiB: 128,
      timeoutMs: 5000,
      minInstances: 0,
      maxInstances: 10,
      concurrency: 1,
      diskMiB: 256,
      port: 8080,
      asyncConcurrency: 10,
      asyncAttempts: 3,
      protocol: 'http',
      invokeAuth: 'token',
      schedules: [{ cron: '*/5 * * * *', method: 'POST', path: '/tick', body: '' }],
      triggers: [],
    });
  });
});
