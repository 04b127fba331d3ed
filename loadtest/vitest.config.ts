import { configDefaults, defineConfig } from 'vitest/config';
import { realParts, testConfig } from '../vitest.shared.ts';

// The CRIU restore experiment's smoke run needs a criu newer than Debian 12's (see the file): it
// runs when CRIU_BIN names one, and is left out of the suite otherwise (not skipped inside it).
const optIn = process.env.CRIU_BIN ? [] : ['test/restore-smoke.test.ts'];

export default defineConfig(
  testConfig('loadtest', { ...realParts, exclude: [...configDefaults.exclude, ...optIn] }),
);
