import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { ThawClient } from './client.js';
import { readApiError, unwrap } from './errors.js';
import type { paths } from './generated/openapi.js';

type Uploaded = paths['/v1/images']['post']['responses'][201]['content']['application/json'];

export interface UploadOptions {
  /** An image archive (OCI layout or docker save tar) on disk. */
  path: string;
  /** Sees the archive's bytes as they go (e.g. a progress bar); it must pass them on unchanged. */
  through?: (source: Readable) => Readable;
}

/** Streams an image archive to POST /v1/images (never held in memory); resolves to its digest. */
export async function uploadImage(client: ThawClient, o: UploadOptions): Promise<Uploaded> {
  const size = (await stat(o.path)).size;
  const file = createReadStream(o.path);
  const source = o.through ? o.through(file) : file;
  const body = Readable.toWeb(source) as ReadableStream<Uint8Array>;
  return unwrap(
    await client.POST('/v1/images', {
      // The schema's body is the archive; the stream is handed to fetch as it is.
      body: body as unknown as string,
      bodySerializer: (b: unknown) => b as RequestInit['body'],
      headers: { 'content-type': 'application/x-tar', 'content-length': String(size) },
      // fetch needs this to send a stream as a request body.
      duplex: 'half',
    }),
  );
}

/** The methods the document names; /fn and /async take any other too (WebDAV's PROPFIND...). */
export type InvokeMethod = 'GET' | 'PUT' | 'POST' | 'DELETE' | 'OPTIONS' | 'HEAD' | 'PATCH' | 'TRACE';

export interface InvokeOptions {
  name: string;
  /** The function's own path and query ("/" by default), e.g. "/items/3?full=1". */
  path?: string;
  method?: InvokeMethod | (string & {});
  headers?: Record<string, string>;
  body?: RequestInit['body'];
  /** The function's invoke token (functions with invokeAuth "token"); the admin token is never sent. */
  invokeToken?: string | undefined;
  /** Queue the call on /async/...: the answer is 202 with its call id. */
  async?: boolean;
}

/**
 * Calls a function on /fn/NAME/PATH (or /async/...) with any method and body. The answer is the
 * function's own, as it is (its own 4xx/5xx included): thaw's errors carry x-thaw-error, which
 * `thawError` reads.
 */
export async function invoke(client: ThawClient, o: InvokeOptions): Promise<Response> {
  const path = o.path ?? '/';
  const rest = path.startsWith('/') ? path.slice(1) : path;
  const q = rest.indexOf('?');
  const fnPath = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? '' : rest.slice(q);
  const route = `/${o.async ? 'async' : 'fn'}/{name}${fnPath ? '/{path}' : ''}` as const;
  // openapi-fetch reads the body of an answer that is not 2xx; the function's answer is the
  // caller's to read, so openapi-fetch gets an empty copy and the real one is kept here.
  let answer: Response | undefined;
  const keep = {
    onResponse({ response }: { response: Response }) {
      answer = response;
      return new Response(null, { status: response.status, headers: response.headers });
    },
  };
  await client.request(
    // openapi-fetch sends any method as it is given; the type names only the documented ones.
    (o.method ?? (o.body === undefined ? 'GET' : 'POST')).toLowerCase() as Lowercase<InvokeMethod>,
    route as '/fn/{name}/{path}',
    {
      params: { path: { name: o.name, path: fnPath } },
      // The function's path keeps its slashes and the query its encoding: they are the caller's.
      pathSerializer: (p: string) =>
        `${p.replace('{name}', encodeURIComponent(o.name)).replace('{path}', fnPath)}${query}`,
      headers: {
        ...(o.headers ?? {}),
        ...(o.invokeToken ? { authorization: `Bearer ${o.invokeToken}` } : {}),
      },
      ...(o.body === undefined
        ? {}
        : { body: o.body as never, bodySerializer: (b: unknown) => b as RequestInit['body'] }),
      parseAs: 'stream',
      middleware: [keep],
      ...(o.body instanceof ReadableStream ? { duplex: 'half' } : {}),
    },
  );
  if (!answer) throw new Error('invoke: no answer was recorded');
  return answer;
}

/** thaw's own error in an answer from /fn or /async (marked by x-thaw-error), or undefined. */
export async function thawError(response: Response): Promise<Error | undefined> {
  if (!response.headers.get('x-thaw-error')) return undefined;
  return readApiError(response);
}
