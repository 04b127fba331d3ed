/** `npm run bench:trace`: see scenarios/trace.ts. */
import { onBenchPlatform, WIDE_SUBNETS } from './platform.js';
import { runTrace, traceSettings } from './scenarios/trace.js';

const settings = traceSettings(process.env);
await runTrace(settings, (policy, env, run) =>
  onBenchPlatform(`tr${policy}`, { ...env, THAW_SUBNET: WIDE_SUBNETS.trace }, run),
);
