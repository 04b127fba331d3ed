export { isRunning, waitPidExit } from './pids.js';
export { CommandError, type RunOptions, run } from './run.js';
export { type LogFiles, type OutputErrors, outputStream, runToFiles } from './spawn.js';
