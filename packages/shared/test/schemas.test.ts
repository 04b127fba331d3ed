import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ErrorCatalogue, FunctionSpec, isErrorCode, parseEnv, subjects, ThawError } from '../src/index.js';

describe('FunctionSpec', () => {
  it('fills safe defaults', () => {
    expect(FunctionSpec.parse({ name: 'hello', image: 'sha256:x' })).toEqual({
      name: 'hello',
      image: 'sha256:x',
      env: {},
      memoryMiB: 128,
      diskMiB: 256,
      timeoutMs: 30_000,
      port: 8080,
      minInstances: 0,
      maxInstances: 10,
      concurrency: 1,
      // No idle age: idle instances stay frozen until their memory is needed.
      invokeAuth: 'public',
      asyncConcurrency: 10,
      asyncAttempts: 3,
      protocol: 'http',
      schedules: [],
      triggers: [],
    });
  });
  it.each([
    [{ name: 'Hello', image: 'i' }, 'name'],
    [{ name: 'a.b', image: 'i' }, 'name'],
    [{ name: 'x'.repeat(49), image: 'i' }, 'name'],
    [{ name: 'ok', image: '' }, 'image'],
    [{ name: 'ok', image: 'i', memoryMiB: 8 }, 'memoryMiB'],
    [{ name: 'ok', image: 'i', timeoutMs: 10 }, 'timeoutMs'],
    [{ name: 'ok', image: 'i', port: 70000 }, 'port'],
    [{ name: 'ok', image: 'i', asyncAttempts: 0 }, 'asyncAttempts'],
    [{ name: 'ok', image: 'i', asyncConcurrency: 5000 }, 'asyncConcurrency'],
    [{ name: 'ok', image: 'i', env: { 'BAD-NAME': 'v' } }, 'env'],
  ])('rejects %j at %s', (input, field) => {
    const r = FunctionSpec.safeParse(input);
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path[0]).toBe(field);
  });
});

describe('errors', () => {
  it('carry the catalogue status and render the API body', () => {
    const e = new ThawError('FUNCTION_NOT_FOUND', 'no function named "x"');
    expect(e.status).toBe(404);
    expect(e.toBody()).toEqual({ error: { code: 'FUNCTION_NOT_FOUND', message: 'no function named "x"' } });
    expect(new ThawError('FUNCTION_TIMEOUT').message).toBe(ErrorCatalogue.FUNCTION_TIMEOUT.message);
    expect(isErrorCode('NO_WORKER')).toBe(true);
    expect(isErrorCode('toString')).toBe(false);
  });
});

describe('parseEnv', () => {
  it('names the bad variable', () => {
    const schema = z.object({ PORT: z.coerce.number().int().max(65535) });
    expect(() => parseEnv(schema, { PORT: 'abc' })).toThrow(/PORT/);
    expect(parseEnv(schema, { PORT: '80' })).toEqual({ PORT: 80 });
  });
});

describe('subjects', () => {
  it('keep installations apart by prefix', () => {
    expect(subjects('a').invoke('fn')).toBe('a.invoke.fn');
    expect(subjects('b').place).toBe('b.place');
  });
});
