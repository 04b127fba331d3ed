import { defineConfig } from 'vitest/config';
import { testConfig } from '../vitest.shared.ts';

export default defineConfig(testConfig('gateway', { testTimeout: 30_000, hookTimeout: 60_000 }));
