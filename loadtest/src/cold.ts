/** `npm run bench:cold`: see scenarios/cold.ts. */
import { onBenchPlatform, WIDE_SUBNETS } from './platform.js';
import { coldSettings, runCold } from './scenarios/cold.js';

const settings = coldSettings(process.env);
await onBenchPlatform('cold', { THAW_SUBNET: WIDE_SUBNETS.cold }, (b) => runCold(b, settings));
