export { Exit, resolveTarget } from './api.js';
export { buildFunction, inspectDir } from './build.js';
export { run } from './cli.js';
