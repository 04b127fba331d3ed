// The typed client of thaw's HTTP API, generated from its OpenAPI document at build time (issue #17).
export { createThawClient, type ThawClient, type ThawClientOptions, type ThawPaths } from './client.js';
export {
  apiError,
  type ErrorBody,
  type ErrorCode,
  isThawApiError,
  isThawUnreachableError,
  readApiError,
  ThawApiError,
  ThawUnreachableError,
  unwrap,
} from './errors.js';
export type { components, operations, paths } from './generated/openapi.js';
export {
  type InvokeMethod,
  type InvokeOptions,
  invoke,
  thawError,
  type UploadOptions,
  uploadImage,
} from './helpers.js';
export type {
  CallView,
  FunctionCreated,
  FunctionRecord,
  FunctionSpec,
  FunctionView,
  ScaleToZeroView,
  WorkerHeartbeat,
} from './types.js';
