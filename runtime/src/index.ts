export * from './container/index.js';
export * from './store/index.js';
