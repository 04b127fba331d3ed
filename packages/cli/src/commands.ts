import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { CliError, check, Exit, json, request, type Target } from './api.js';
import { buildFunction, pushArchive, UsageError } from './build.js';
import { type FunctionView, table } from './format.js';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Progress bars only on a terminal. */
  tty: boolean;
  asJson: boolean;
}

type Flags = Record<string, string | boolean | string[] | undefined>;
const str = (f: Flags, k: string): string | undefined =>
  typeof f[k] === 'string' ? (f[k] as string) : undefined;
const list = (f: Flags, k: string): string[] => (Array.isArray(f[k]) ? (f[k] as string[]) : []);

function int(f: Flags, k: string): number | undefined {
  const v = str(f, k);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new CliError(`--${k}: "${v}" is not a whole number`, Exit.usage);
  return Number(v);
}

/** Streams an archive to POST /v1/images, with a progress bar on a terminal. */
async function upload(t: Target, io: Io, tar: string): Promise<string> {
  const size = statSync(tar).size;
  let sent = 0;
  let last = 0;
  const progress = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sent += chunk.length;
      if (io.tty && !io.asJson && (Date.now() - last > 100 || sent === size)) {
        last = Date.now();
        const pct = size ? Math.floor((sent / size) * 100) : 100;
        const bar = '#'.repeat(Math.floor(pct / 4)).padEnd(25, '.');
        io.err(`\ruploading [${bar}] ${pct}% of ${(size / 2 ** 20).toFixed(1)} MiB`);
      }
      done(null, chunk);
    },
  });
  const body = createReadStream(tar).pipe(progress);
  const res = await request(t, '/v1/images', {
    method: 'POST',
    headers: { 'content-type': 'application/x-tar', 'content-length': String(size) },
    body: body as unknown as ReadableStream,
  });
  if (io.tty && !io.asJson) io.err('\n');
  const { digest } = (await (await check(res)).json()) as { digest: string };
  return digest;
}

export async function deploy(t: Target, io: Io, args: string[], f: Flags): Promise<number> {
  const file = str(f, 'file');
  let spec: Record<string, unknown> = {};
  if (file) {
    try {
      spec = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new CliError(`--file ${file}: ${(err as Error).message}`, Exit.usage);
    }
  }
  const name = str(f, 'name') ?? (spec.name as string | undefined);
  if (!name) throw new CliError('a name is needed: --name NAME (or "name" in the spec file)', Exit.usage);
  const source = args[0];
  let image = str(f, 'image') ?? (spec.image as string | undefined);
  if (source) {
    let tar = source;
    let tmp: string | undefined;
    try {
      if (statSync(source, { throwIfNoEntry: false })?.isDirectory()) {
        tmp = await mkdtemp(join(tmpdir(), 'thaw-cli-'));
        tar = join(tmp, 'image.tar');
        const built = await buildFunction(source, tar).catch((err: unknown) => {
          throw err instanceof UsageError ? new CliError(err.message, Exit.usage) : err;
        });
        if (!io.asJson) io.err(`built ${source} → ${built.digest.slice(0, 19)}... (${built.mode})\n`);
      } else if (!existsSync(source)) {
        throw new CliError(`${source}: no such directory or image archive`, Exit.usage);
      }
      image = await upload(t, io, tar);
    } finally {
      if (tmp) await rm(tmp, { recursive: true, force: true });
    }
  }
  if (!image)
    throw new CliError(
      'an image is needed: a DIR or TAR argument, --image, or "image" in the spec file',
      Exit.usage,
    );
  const env = { ...((spec.env as Record<string, string>) ?? {}) };
  for (const kv of list(f, 'env')) {
    const i = kv.indexOf('=');
    if (i < 1) throw new CliError(`--env ${kv}: must be NAME=value`, Exit.usage);
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const body: Record<string, unknown> = { ...spec, name, image, env };
  for (const [flag, field] of [
    ['memory', 'memoryMiB'],
    ['timeout', 'timeoutMs'],
    ['port', 'port'],
    ['min', 'minInstances'],
    ['max', 'maxInstances'],
    ['concurrency', 'concurrency'],
  ] as const) {
    const v = int(f, flag);
    if (v !== undefined) body[field] = v;
  }
  const auth = str(f, 'invoke-auth');
  if (auth) body.invokeAuth = auth;
  const exists = (await request(t, `/v1/functions/${encodeURIComponent(name)}`)).status === 200;
  const fn = await json<FunctionView>(t, exists ? `/v1/functions/${name}` : '/v1/functions', {
    method: exists ? 'PUT' : 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (io.asJson) io.out(`${JSON.stringify(fn)}\n`);
  else {
    io.out(
      `${exists ? 'updated' : 'deployed'} ${fn.name}: revision ${fn.revision}, ${fn.status}, image ${fn.image.slice(0, 19)}...\n`,
    );
    if (fn.invokeToken)
      io.out(`invoke token (shown once; calls need "Authorization: Bearer <token>"):\n  ${fn.invokeToken}\n`);
    io.out(`invoke: thaw invoke ${fn.name}   (or curl ${t.url}/fn/${fn.name}/)\n`);
  }
  return Exit.ok;
}

function readData(f: Flags): Buffer | undefined {
  const d = str(f, 'data');
  if (d === undefined) return undefined;
  if (d.startsWith('@')) {
    try {
      return readFileSync(d.slice(1));
    } catch (err) {
      throw new CliError(`--data ${d}: ${(err as Error).message}`, Exit.usage);
    }
  }
  return Buffer.from(d);
}

export async function invoke(t: Target, io: Io, args: string[], f: Flags): Promise<number> {
  const [name, path = '/'] = args;
  if (!name) throw new CliError('usage: thaw invoke NAME [PATH] [--data @file|text] [--async]', Exit.usage);
  const data = readData(f);
  const headers: Record<string, string> = {};
  for (const h of list(f, 'header')) {
    const i = h.indexOf(':');
    if (i < 1) throw new CliError(`--header ${h}: must be "Name: value"`, Exit.usage);
    headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
  }
  const method = str(f, 'method') ?? (data ? 'POST' : f.async ? 'POST' : 'GET');
  const route = `/${f.async ? 'async' : 'fn'}/${name}${path.startsWith('/') ? path : `/${path}`}`;
  // The admin token is never sent to a function's route: it would reach the function's code
  // if the function is public. A token function takes its own --invoke-token.
  const target: Target = { url: t.url, from: t.from, ...(t.invokeToken ? { token: t.invokeToken } : {}) };
  const res = await request(target, route, { method, headers, ...(data ? { body: data } : {}) });
  if (f.async) {
    const body = (await (await check(res)).json()) as { callId: string };
    io.out(io.asJson ? `${JSON.stringify(body)}\n` : `${body.callId}\n`);
    return Exit.ok;
  }
  // thaw's own errors carry x-thaw-error; a function's own error answers are passed on as they are.
  if (res.headers.get('x-thaw-error')) await check(res);
  const bytes = Buffer.from(await res.arrayBuffer());
  if (io.asJson) {
    io.out(
      `${JSON.stringify({ status: res.status, headers: Object.fromEntries(res.headers), body: bytes.toString() })}\n`,
    );
  } else {
    io.out(bytes.toString());
    if (bytes.length && !bytes.toString().endsWith('\n')) io.out('\n');
    if (res.status >= 400) io.err(`the function answered ${res.status}\n`);
  }
  return res.status >= 400 ? Exit.api : Exit.ok;
}

export async function ls(t: Target, io: Io): Promise<number> {
  const { functions } = await json<{ functions: FunctionView[] }>(t, '/v1/functions');
  if (io.asJson) {
    io.out(`${JSON.stringify(functions)}\n`);
    return Exit.ok;
  }
  if (functions.length === 0) {
    io.out('no functions; deploy one: thaw deploy DIR --name NAME\n');
    return Exit.ok;
  }
  io.out(
    table([
      ['NAME', 'REVISION', 'STATUS', 'INVOKE', 'IMAGE'],
      ...functions.map((fn) => [
        fn.name,
        String(fn.revision),
        fn.status,
        fn.invokeAuth ?? 'public',
        fn.image.slice(0, 19),
      ]),
    ]),
  );
  return Exit.ok;
}

export async function logs(t: Target, io: Io, args: string[], f: Flags): Promise<number> {
  const name = args[0];
  if (!name) throw new CliError('usage: thaw logs NAME [-f] [--since 10m]', Exit.usage);
  const q = new URLSearchParams();
  if (str(f, 'since')) q.set('since', str(f, 'since') as string);
  if (str(f, 'limit')) q.set('limit', str(f, 'limit') as string);
  if (f.follow) q.set('follow', '1');
  if (io.asJson) q.set('format', 'json');
  const res = await check(await request(t, `/v1/functions/${encodeURIComponent(name)}/logs?${q}`));
  const reader = res.body?.getReader();
  if (!reader) return Exit.ok;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    io.out(Buffer.from(value).toString());
  }
  return Exit.ok;
}

export async function remove(t: Target, io: Io, args: string[]): Promise<number> {
  const name = args[0];
  if (!name) throw new CliError('usage: thaw rm NAME', Exit.usage);
  await check(await request(t, `/v1/functions/${encodeURIComponent(name)}`, { method: 'DELETE' }));
  io.out(io.asJson ? `${JSON.stringify({ removed: name })}\n` : `removed ${name}\n`);
  return Exit.ok;
}

interface CallView {
  callId: string;
  status: string;
  attempts: number;
  maxAttempts: number;
  response?: { status: number; body: string };
  error?: string;
}

export async function calls(t: Target, io: Io, args: string[], f: Flags): Promise<number> {
  const id = args[0];
  if (!id) throw new CliError('usage: thaw calls CALL_ID [--wait]', Exit.usage);
  let call = await json<CallView>(t, `/v1/calls/${encodeURIComponent(id)}`);
  while (f.wait && !['succeeded', 'dead'].includes(call.status)) {
    await new Promise((r) => setTimeout(r, 250));
    call = await json<CallView>(t, `/v1/calls/${encodeURIComponent(id)}`);
  }
  if (io.asJson) io.out(`${JSON.stringify(call)}\n`);
  else {
    io.out(
      `${call.callId}: ${call.status} after ${call.attempts} of ${call.maxAttempts} tries${call.error ? ` (${call.error})` : ''}\n`,
    );
    if (call.response) {
      io.out(`answer ${call.response.status}:\n${Buffer.from(call.response.body, 'base64').toString()}\n`);
    }
  }
  // As for `thaw invoke`: a function's answer of 400 or more is a failure for scripts.
  return call.status === 'dead' || (call.response?.status ?? 0) >= 400 ? Exit.api : Exit.ok;
}

export async function build(io: Io, args: string[], f: Flags): Promise<number> {
  const dir = args[0];
  if (!dir) throw new CliError('usage: thaw build DIR [-o image.tar] [--push host/repo:tag]', Exit.usage);
  const out = str(f, 'output') ?? 'image.tar';
  let built: Awaited<ReturnType<typeof buildFunction>>;
  try {
    built = await buildFunction(dir, out);
  } catch (err) {
    if (err instanceof UsageError) throw new CliError(err.message, Exit.usage);
    throw err;
  }
  const push = str(f, 'push');
  if (push) {
    const insecure = Boolean(f.insecure) || /^(localhost|127\.0\.0\.1)(:|\/)/.test(push);
    try {
      pushArchive(built.path, push, insecure);
    } catch (err) {
      throw new CliError(`pushing to ${push} failed: ${(err as Error).message}`, Exit.api);
    }
  }
  io.out(
    io.asJson
      ? `${JSON.stringify({ ...built, ...(push ? { pushed: push } : {}) })}\n`
      : `${built.path}: ${built.digest} (${built.mode})${push ? `\npushed to ${push}` : ''}\n`,
  );
  return Exit.ok;
}
