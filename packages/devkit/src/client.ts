import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { FunctionRecord, FunctionSpecInput } from '@thaw/shared';

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${status} ${code}: ${message}`);
  }
}

async function check(res: Response): Promise<Response> {
  if (res.ok) return res;
  const body = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  throw new ApiError(res.status, body.error?.code ?? 'UNKNOWN', body.error?.message ?? res.statusText);
}

/** Streams an image archive to POST /v1/images and returns its digest. */
function auth(token: string | undefined): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

export async function uploadImage(
  gatewayUrl: string,
  tarPath: string,
  token?: string,
): Promise<{ digest: string; size: number }> {
  const size = (await stat(tarPath)).size;
  const res = await fetch(`${gatewayUrl}/v1/images`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-tar', 'content-length': String(size), ...auth(token) },
    body: Readable.toWeb(createReadStream(tarPath)) as ReadableStream,
    duplex: 'half',
  } as RequestInit);
  return (await (await check(res)).json()) as { digest: string; size: number };
}

export async function deployFunction(
  gatewayUrl: string,
  spec: FunctionSpecInput,
  token?: string,
): Promise<FunctionRecord & { invokeToken?: string }> {
  const res = await fetch(`${gatewayUrl}/v1/functions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth(token) },
    body: JSON.stringify(spec),
  });
  return (await (await check(res)).json()) as FunctionRecord & { invokeToken?: string };
}

export async function deleteFunction(gatewayUrl: string, name: string, token?: string): Promise<void> {
  await check(await fetch(`${gatewayUrl}/v1/functions/${name}`, { method: 'DELETE', headers: auth(token) }));
}
