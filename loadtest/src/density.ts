/** `npm run bench:density`: see scenarios/density.ts. */
import { onBenchPlatform, WIDE_SUBNETS } from './platform.js';
import { densitySettings, densityWorkerEnv, runDensity } from './scenarios/density.js';

const settings = densitySettings(process.env);
await onBenchPlatform(
  'dens',
  { ...densityWorkerEnv(settings.budgetMiB), THAW_SUBNET: WIDE_SUBNETS.density },
  (b) => runDensity(b, settings),
);
