import { createLogger } from '@thaw/shared';
import { loadEnv } from './env.js';
import { startWorker } from './worker.js';

const env = loadEnv();
// A start that fails (NATS refused us, the runtime cannot open) says why in one line, not as an
// unhandled rejection's stack.
const worker = await startWorker(env).catch((err: unknown) => {
  createLogger('worker', env.LOG_LEVEL).fatal(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
// Ctrl-C reaches the whole process group and the parent then sends SIGTERM too: later signals
// must not cut the clean-up short. A worker stuck in it is SIGKILLed, and its next start
// reclaims what is left. Set before announcing readiness: a parent may signal the instant it
// hears "ready", and with no handler yet the default action would kill the worker undrained.
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => void worker.close().then(() => process.exit(0)));
}
// A parent that started us with an IPC channel (npm run up, tests) learns we are ready.
process.send?.({ ready: true, id: worker.id, metrics: worker.metricsUrl });
