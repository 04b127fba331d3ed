export { parseChildCpu } from './cpu.js';
export { type Measured, runMeasured, runToFilesMeasured } from './measured.js';
export { isRunning, waitPidExit } from './pids.js';
export { CommandError, type RunOptions, run } from './run.js';
export { type LogFiles, type OutputErrors, outputStream, runToFiles } from './spawn.js';
