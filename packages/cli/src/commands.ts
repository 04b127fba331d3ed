import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { type FunctionSpec, invoke as invokeFn, thawError, unwrap, uploadImage } from '@thaw/client';
import { buildFunction, pushArchive, UsageError } from './build.js';
import { CliError, Exit } from './errors.js';
import { table } from './format.js';
import { call, clientFor } from './gateway.js';
import type { Target } from './target.js';

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
  const { digest } = await call(t, () =>
    uploadImage(clientFor(t), { path: tar, through: (file) => file.pipe(progress) }),
  );
  if (io.tty && !io.asJson) io.err('\n');
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
  const api = clientFor(t);
  const byName = { path: { name } };
  const exists = await call(
    t,
    async () => (await api.GET('/v1/functions/{name}', { params: byName })).response.ok,
  );
  // The gateway validates the spec (a file's fields included) and names what is wrong.
  const request = body as FunctionSpec;
  const fn = await call(t, async () =>
    unwrap(
      exists
        ? await api.PUT('/v1/functions/{name}', { params: byName, body: request })
        : await api.POST('/v1/functions', { body: request }),
    ),
  );
  if (io.asJson) io.out(`${JSON.stringify(fn)}\n`);
  else {
    io.out(
      `${exists ? 'updated' : 'deployed'} ${fn.name}: revision ${fn.revision}, ${fn.status}, image ${fn.image.slice(0, 19)}...\n`,
    );
    if ('invokeToken' in fn && fn.invokeToken)
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
  const method = (str(f, 'method') ?? (data ? 'POST' : f.async ? 'POST' : 'GET')).toUpperCase();
  // Any HTTP method token reaches the function (WebDAV's PROPFIND too), as with curl -X.
  if (!/^[A-Z][A-Z0-9_-]*$/.test(method))
    throw new CliError(`--method ${method}: not an HTTP method`, Exit.usage);
  // The client never sends the admin token to a function's route (it would reach the
  // function's code if the function is public): a token function takes its own --invoke-token.
  const res = await call(t, async () => {
    const answer = await invokeFn(clientFor(t), {
      name,
      path,
      method,
      headers,
      invokeToken: t.invokeToken,
      async: Boolean(f.async),
      ...(data ? { body: data } : {}),
    });
    // thaw's own errors carry x-thaw-error; a function's own error answers are passed on as they are.
    const err = await thawError(answer);
    if (err) throw err;
    return answer;
  });
  if (f.async) {
    const body = (await res.json()) as { callId: string };
    io.out(io.asJson ? `${JSON.stringify(body)}\n` : `${body.callId}\n`);
    return Exit.ok;
  }
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
  const { functions } = await call(t, async () => unwrap(await clientFor(t).GET('/v1/functions')));
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
        fn.invokeAuth,
        fn.image.slice(0, 19),
      ]),
    ]),
  );
  return Exit.ok;
}

export async function logs(t: Target, io: Io, args: string[], f: Flags): Promise<number> {
  const name = args[0];
  if (!name) throw new CliError('usage: thaw logs NAME [-f] [--since 10m]', Exit.usage);
  const since = str(f, 'since');
  const limit = int(f, 'limit');
  const query = {
    ...(since ? { since } : {}),
    ...(limit === undefined ? {} : { limit }),
    ...(f.follow ? { follow: '1' as const } : {}),
    ...(io.asJson ? { format: 'json' as const } : {}),
  };
  const stream = await call(t, async () =>
    unwrap(
      await clientFor(t).GET('/v1/functions/{name}/logs', {
        params: { path: { name }, query },
        parseAs: 'stream',
      }),
    ),
  );
  const reader = stream?.getReader();
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
  await call(t, async () =>
    unwrap(await clientFor(t).DELETE('/v1/functions/{name}', { params: { path: { name } } })),
  );
  io.out(io.asJson ? `${JSON.stringify({ removed: name })}\n` : `removed ${name}\n`);
  return Exit.ok;
}

/** How often `thaw calls --wait` asks again. */
const CALL_POLL_MS = 250;

export async function calls(t: Target, io: Io, args: string[], f: Flags): Promise<number> {
  const id = args[0];
  if (!id) throw new CliError('usage: thaw calls CALL_ID [--wait]', Exit.usage);
  const api = clientFor(t);
  const read = () =>
    call(t, async () => unwrap(await api.GET('/v1/calls/{callId}', { params: { path: { callId: id } } })));
  let view = await read();
  while (f.wait && !['succeeded', 'dead'].includes(view.status)) {
    await new Promise((r) => setTimeout(r, CALL_POLL_MS));
    view = await read();
  }
  if (io.asJson) io.out(`${JSON.stringify(view)}\n`);
  else {
    io.out(
      `${view.callId}: ${view.status} after ${view.attempts} of ${view.maxAttempts} tries${view.error ? ` (${view.error})` : ''}\n`,
    );
    if (view.response) {
      io.out(`answer ${view.response.status}:\n${Buffer.from(view.response.body, 'base64').toString()}\n`);
    }
  }
  // As for `thaw invoke`: a function's answer of 400 or more is a failure for scripts.
  return view.status === 'dead' || (view.response?.status ?? 0) >= 400 ? Exit.api : Exit.ok;
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
