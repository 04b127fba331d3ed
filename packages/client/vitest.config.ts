import { defineConfig } from 'vitest/config';
import { realParts, testConfig } from '../../vitest.shared.ts';

export default defineConfig(testConfig('client', realParts));
