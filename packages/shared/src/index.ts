export { parseEnv } from './env.js';
export * from './errors.js';
export { createLogger, type Logger } from './log.js';
export * from './schemas.js';
export * from './subjects.js';
