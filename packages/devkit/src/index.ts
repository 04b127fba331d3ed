export { ApiError, deleteFunction, deployFunction, uploadImage } from './client.js';
export { findTestResidue } from './host-residue.js';
export { startWorkerHost, type WorkerHost, type WorkerHostOptions } from './hosts.js';
export { type Platform, type PlatformOptions, startPlatform } from './platform.js';
export { workerEnvFor } from './scratch.js';
export { type Service, type ServiceOptions, startNats, startRedis, startRegistry } from './services.js';
export { type Restart, type SuperviseOptions, SupervisorGaveUpError } from './supervise.js';
