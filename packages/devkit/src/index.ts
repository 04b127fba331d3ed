export {
  ApiError,
  createThawClient,
  deleteFunction,
  deployFunction,
  type FunctionView,
  invoke,
  isThawApiError,
  ThawApiError,
  type ThawClient,
  ThawUnreachableError,
  thawError,
  unwrap,
  uploadImage,
} from './client.js';
export { findTestResidue } from './host-residue.js';
export { startWorkerHost, type WorkerHost, type WorkerHostOptions } from './hosts.js';
export {
  type NatsCluster,
  type NatsClusterOptions,
  type NatsNode,
  startNatsCluster,
} from './nats-cluster.js';
export { type Platform, type PlatformOptions, startPlatform } from './platform.js';
export {
  type RedisNode,
  type RedisSentinelOptions,
  type RedisSentinelSet,
  renderConfig,
  startRedisSentinel,
} from './redis-sentinel.js';
export { workerEnvFor } from './scratch.js';
export { type Service, type ServiceOptions, startNats, startRedis, startRegistry } from './services.js';
export { type Restart, type SuperviseOptions, SupervisorGaveUpError } from './supervise.js';
