export { loadEnv, type WorkerEnv } from './env.js';
export { type RunningWorker, startWorker } from './worker.js';
