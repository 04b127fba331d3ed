export { loadEnv, type WorkerEnv } from './env.js';
export { startWorker, type RunningWorker } from './worker.js';
