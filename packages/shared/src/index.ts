export * from './errors.js';
export * from './schemas.js';
export * from './subjects.js';
export { parseEnv } from './env.js';
export { createLogger, type Logger } from './log.js';
