import type { components, paths } from './generated/openapi.js';

type Schemas = components['schemas'];
type Json<T> = T extends { content: { 'application/json': infer B } } ? B : never;

/** POST/PUT /v1/functions body. */
export type FunctionSpec = Schemas['FunctionSpec'];
export type FunctionRecord = Schemas['FunctionRecord'];
/** A created function: its record and, for invokeAuth "token", its invoke token (shown once). */
export type FunctionCreated = Schemas['FunctionCreated'];
/** GET /v1/functions/{name}: the record with its instances per worker. */
export type FunctionView = Schemas['FunctionView'];
export type WorkerHeartbeat = Schemas['WorkerHeartbeat'];
/** GET /v1/calls/{callId}. */
export type CallView = Schemas['CallView'];
/** POST /v1/functions/{name}/scale-to-zero. */
export type ScaleToZeroView = Json<paths['/v1/functions/{name}/scale-to-zero']['post']['responses'][202]>;
