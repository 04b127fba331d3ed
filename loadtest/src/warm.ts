/** `npm run bench:warm`: see scenarios/warm.ts. */
import { onBenchPlatform } from './platform.js';
import { runWarm, warmSettings, warmWorkerEnv } from './scenarios/warm.js';

const settings = warmSettings(process.env);
await onBenchPlatform('bench', warmWorkerEnv, (b) => runWarm(b, settings));
