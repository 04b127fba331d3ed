import { defineConfig } from 'vitest/config';

// Real containers: one file at a time, generous timeouts.
export default defineConfig({
  test: { include: ['test/**/*.test.ts'], fileParallelism: false, testTimeout: 60_000, hookTimeout: 180_000 },
});
