/**
 * `node loadtest/dist/restore.js` (root; CRIU_BIN names a criu that passes `criu check`):
 * see scenarios/restore.ts.
 */
import { scratchRuntimeOptions } from '@thaw/runtime';
import { restoreSettings, runRestore } from './scenarios/restore.js';

const settings = restoreSettings(process.env);
await runRestore(scratchRuntimeOptions('restore'), settings);
