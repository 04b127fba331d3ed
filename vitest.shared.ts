import { fileURLToPath } from 'node:url';
import type { ViteUserConfig } from 'vitest/config';

type TestOptions = NonNullable<ViteUserConfig['test']>;

/**
 * Every package's vitest settings, plus a JSON report in `.test-results/<name>.json` at the repo
 * root: CI counts the tests that really ran from those files (infra/ci/count-tests.mjs), never from
 * the coloured console text.
 */
export function testConfig(name: string, options: TestOptions = {}): ViteUserConfig {
  const report = fileURLToPath(new URL(`.test-results/${name}.json`, import.meta.url));
  return {
    test: {
      include: ['test/**/*.test.ts'],
      reporters: ['default', 'json'],
      outputFile: { json: report },
      ...options,
    },
  };
}

/** Tests that start real containers, NATS or Redis: one file at a time, generous timeouts. */
export const realParts: TestOptions = { fileParallelism: false, testTimeout: 60_000, hookTimeout: 180_000 };
