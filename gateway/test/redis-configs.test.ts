import { readFile } from 'node:fs/promises';
import { renderConfig } from '@thaw/devkit';
import { describe, expect, it } from 'vitest';

const INFRA = new URL('../../infra/redis/', import.meta.url);
const template = (name: string) => readFile(new URL(name, INFRA), 'utf8');
/** A template's reference to variable `n`. */
const ref = (n: string) => `\${${n}}`;
const names = (t: string) => [...new Set([...t.matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1]))].sort();

describe("infra/redis's templates", () => {
  it('name only the variables docs/redis-sentinel.md sets', async () => {
    expect(names(await template('redis.conf'))).toEqual([
      'REDIS_BIND',
      'REDIS_DIR',
      'REDIS_PASSWORD',
      'REDIS_PORT',
    ]);
    expect(names(await template('replica.conf'))).toEqual([
      'REDIS_CONF',
      'REDIS_PRIMARY_HOST',
      'REDIS_PRIMARY_PORT',
    ]);
    expect(names(await template('sentinel.conf'))).toEqual([
      'REDIS_MASTER_NAME',
      'REDIS_PASSWORD',
      'REDIS_PRIMARY_HOST',
      'REDIS_PRIMARY_PORT',
      'SENTINEL_BIND',
      'SENTINEL_DIR',
      'SENTINEL_PASSWORD',
      'SENTINEL_PORT',
    ]);
  });

  it('keep the settings BullMQ and the failover rely on', async () => {
    const redis = await template('redis.conf');
    for (const line of [
      'maxmemory-policy noeviction',
      'appendonly yes',
      `requirepass ${ref('REDIS_PASSWORD')}`,
      `masterauth ${ref('REDIS_PASSWORD')}`,
    ]) {
      expect(redis.split('\n')).toContain(line);
    }
    const sentinel = await template('sentinel.conf');
    expect(sentinel).toMatch(/^sentinel monitor \$\{REDIS_MASTER_NAME\} \S+ \S+ 2$/m);
  });

  it('are rendered whole, or not at all: a variable without a value is an error naming it', () => {
    expect(
      renderConfig(`port ${ref('REDIS_PORT')}\nbind ${ref('REDIS_BIND')}`, {
        REDIS_PORT: 7000,
        REDIS_BIND: '::1',
      }),
    ).toBe('port 7000\nbind ::1');
    expect(() =>
      renderConfig(`port ${ref('REDIS_PORT')}\ndir ${ref('REDIS_DIR')}`, { REDIS_PORT: 7000 }),
    ).toThrow(`config template names ${ref('REDIS_DIR')}, which has no value`);
  });
});
