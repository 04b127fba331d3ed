import { loadEnv } from './env.js';
import { startWorker } from './worker.js';

const worker = await startWorker(loadEnv());
let signals = 0;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    // A second signal means "now": leave, and let the next start reclaim what is left.
    if (++signals > 1) process.exit(1);
    void worker.close().then(() => process.exit(0));
  });
}
