export { buildFunction, inspectDir } from './build.js';
export { run } from './cli.js';
export { contextsFile, readContexts } from './contexts.js';
export { CliError, Exit } from './errors.js';
export { resolveTarget, type Target } from './target.js';
