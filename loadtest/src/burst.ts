/** `npm run bench:burst`: see scenarios/burst.ts. */
import { onBenchPlatform, WIDE_SUBNETS } from './platform.js';
import { burstSettings, runBurst } from './scenarios/burst.js';

const settings = burstSettings(process.env);
await onBenchPlatform('burst', { THAW_SUBNET: WIDE_SUBNETS.burst }, (b) => runBurst(b, settings));
