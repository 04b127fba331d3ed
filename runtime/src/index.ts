export * from './container/index.js';
export { CommandError } from './process/index.js';
export * from './store/index.js';
