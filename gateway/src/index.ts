export { buildApp, type AppDeps } from './app.js';
export { loadEnv, type GatewayEnv } from './env.js';
