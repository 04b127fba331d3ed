/** `npm run bench:sparse`: see scenarios/sparse.ts. */
import { onBenchPlatform } from './platform.js';
import { runSparse, sparseSettings } from './scenarios/sparse.js';

const settings = sparseSettings(process.env);
// The worker's own defaults: FREEZE_AFTER_MS is what makes every call a thaw.
await onBenchPlatform('bench', {}, (b) => runSparse(b, settings));
