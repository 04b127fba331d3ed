/** `npm run bench:hops`: see scenarios/hops.ts. */
import { hopsSettings, runHops } from './scenarios/hops.js';

await runHops(hopsSettings(process.env));
