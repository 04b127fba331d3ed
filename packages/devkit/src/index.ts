export { startNats, startRedis, type Service, type ServiceOptions } from './services.js';
export { startPlatform, type Platform, type PlatformOptions } from './platform.js';
export { ApiError, deleteFunction, deployFunction, uploadImage } from './client.js';
