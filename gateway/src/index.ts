export { type AppDeps, buildApp } from './app.js';
export { type GatewayEnv, loadEnv } from './env.js';
