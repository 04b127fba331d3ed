export { startNats, startRedis, type Service, type ServiceOptions } from './services.js';
