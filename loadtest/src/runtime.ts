/** `npm run bench:runtime`: see scenarios/runtime.ts. */
import { scratchRuntimeOptions } from '@thaw/runtime';
import { runRuntime, runtimeSettings } from './scenarios/runtime.js';

const settings = runtimeSettings(process.env);
await runRuntime(scratchRuntimeOptions('rtbench'), settings);
