import createClient, { type Client, type Middleware } from 'openapi-fetch';
import { ThawUnreachableError } from './errors.js';
import type { paths } from './generated/openapi.js';

/** thaw's HTTP API, typed from its OpenAPI document. */
export type ThawPaths = paths;
export type ThawClient = Client<paths> & {
  /** The gateway URL, without a trailing slash (for messages and hand-made links). */
  readonly baseUrl: string;
};

export interface ThawClientOptions {
  /** The gateway, e.g. http://localhost:8080. */
  baseUrl: string;
  /** The admin token: sent to /v1/* only. */
  token?: string | undefined;
  /** A fetch of your own (tests, proxies); the global one when absent. */
  fetch?: typeof globalThis.fetch;
}

/**
 * Only the admin API gets the admin token: a function's routes (/fn, /async) would hand it to
 * the function's code when the function is public. Calls there take their invoke token.
 */
const ADMIN_PATH = /^\/v1\//;

/** A typed client of one gateway: `client.GET('/v1/functions/{name}', { params: { path: { name } } })`. */
export function createThawClient(o: ThawClientOptions): ThawClient {
  const baseUrl = o.baseUrl.replace(/\/+$/, '');
  const client = createClient<paths>({ baseUrl, ...(o.fetch ? { fetch: o.fetch } : {}) });
  const auth: Middleware = {
    onRequest({ request, schemaPath }) {
      if (o.token && ADMIN_PATH.test(schemaPath) && !request.headers.has('authorization'))
        request.headers.set('authorization', `Bearer ${o.token}`);
      return request;
    },
    // A connection failure names the gateway, not just "fetch failed".
    onError({ error }) {
      return new ThawUnreachableError(baseUrl, { cause: error });
    },
  };
  client.use(auth);
  return Object.assign(client, { baseUrl });
}
