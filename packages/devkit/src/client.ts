/**
 * The helpers tests and scripts have always called (upload, deploy, delete), now on the generated
 * API client (@thaw/client): a schema change that breaks them breaks the build.
 */
import {
  createThawClient,
  type FunctionCreated,
  type FunctionSpec,
  ThawApiError,
  type ThawClient,
  unwrap,
  uploadImage as upload,
} from '@thaw/client';

export {
  createThawClient,
  type FunctionView,
  invoke,
  isThawApiError,
  ThawApiError,
  type ThawClient,
  ThawUnreachableError,
  thawError,
  unwrap,
} from '@thaw/client';

/** The catalogue error of an answer (status, code, message): @thaw/client's ThawApiError. */
export const ApiError = ThawApiError;
export type ApiError = ThawApiError;

const client = (gatewayUrl: string, token: string | undefined): ThawClient =>
  createThawClient({ baseUrl: gatewayUrl, token });

/** Streams an image archive to POST /v1/images and returns its digest. */
export async function uploadImage(
  gatewayUrl: string,
  tarPath: string,
  token?: string,
): Promise<{ digest: string; size: number }> {
  return upload(client(gatewayUrl, token), { path: tarPath });
}

/** POST /v1/functions; the invoke token is there for invokeAuth "token" (shown once). */
export async function deployFunction(
  gatewayUrl: string,
  spec: FunctionSpec,
  token?: string,
): Promise<FunctionCreated> {
  return unwrap(await client(gatewayUrl, token).POST('/v1/functions', { body: spec }));
}

export async function deleteFunction(gatewayUrl: string, name: string, token?: string): Promise<void> {
  unwrap(await client(gatewayUrl, token).DELETE('/v1/functions/{name}', { params: { path: { name } } }));
}
