import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MAX_RESPONSE_BYTES } from '../pool/forward.js';
import type { Invocation } from './invocation.js';
import type { NextWaiter, RuntimeSession } from './session.js';

export interface RuntimeApiOptions {
  /** The bridge's host address: the one address instances may reach on the host. */
  host: string;
  /** 0 picks a free port; the runtime's firewall has to let instances reach the one it serves. */
  port: number;
  /** AWS_REGION for the instances, and the region in the ARNs (default "local"). */
  region?: string;
  /** How long a request from an unbound address waits for a bind (default UNKNOWN_ADDRESS_GRACE_MS). */
  unknownAddressGraceMs?: number;
}

/** How long a request from an address not (yet) bound waits for its instance to be bound. */
export const UNKNOWN_ADDRESS_GRACE_MS = 2000;
/**
 * Requests one instance may have open at once: a held /next, an answer being posted, and room
 * for a runtime that reconnects. More are refused (429): a runtime must not be able to tie up
 * the worker's memory or sockets, which every other function on it shares.
 */
export const MAX_REQUESTS_PER_INSTANCE = 4;
/** Time to send a whole request (a held /next is received at once, so this does not cut it). */
export const REQUEST_TIMEOUT_MS = 30_000;

const PREFIX = '/2018-06-01/runtime/';
const INVOCATION = /^invocation\/([^/]+)\/(response|error)$/;

function sourceAddress(req: IncomingMessage): string {
  return (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_RESPONSE_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

/**
 * The Lambda Runtime API (version 2018-06-01) for every `lambda` instance on this worker: one
 * server on the bridge's host address, which tells instances apart by their source address.
 * One socket and one firewall exception serve every instance, where a server per instance
 * would need a port range open and a socket per (frozen) instance; the source address cannot be
 * borrowed, as the bridge's ports are isolated and an instance cannot change its own address
 * (no CAP_NET_ADMIN). A request from an address no instance has gets 403.
 */
export class RuntimeApi {
  private readonly sessions = new Map<string, RuntimeSession>();
  private readonly bindWaiters = new Map<string, (() => void)[]>();
  /** Requests open per source address (MAX_REQUESTS_PER_INSTANCE). */
  private readonly open = new Map<string, number>();
  private readonly server: Server;
  readonly region: string;
  private readonly graceMs: number;
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: RuntimeApiOptions) {
    this.region = opts.region ?? 'local';
    this.graceMs = opts.unknownAddressGraceMs ?? UNKNOWN_ADDRESS_GRACE_MS;
    this.server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS });
    this.server.on('request', (req, res) => {
      const ip = sourceAddress(req);
      const open = (this.open.get(ip) ?? 0) + 1;
      if (open > MAX_REQUESTS_PER_INSTANCE) {
        res.setHeader('connection', 'close');
        reply(res, 429, { errorMessage: 'too many requests open at once', errorType: 'TooManyRequests' });
        return;
      }
      this.open.set(ip, open);
      res.on('close', () => {
        const left = (this.open.get(ip) ?? 1) - 1;
        if (left > 0) this.open.set(ip, left);
        else this.open.delete(ip);
      });
      this.handle(req, res).catch(() => {
        if (!res.headersSent)
          reply(res, 500, { errorMessage: 'internal error', errorType: 'ServiceException' });
        else res.destroy();
      });
    });
  }

  /** Made and listening (port 0 picks a free port). */
  static async listen(opts: RuntimeApiOptions): Promise<RuntimeApi> {
    const api = new RuntimeApi(opts);
    await api.start();
    return api;
  }

  get listening(): boolean {
    return this.server.listening;
  }

  /**
   * Listens; idempotent, and a failed try is tried again by the next call. The bridge's address
   * exists only once the runtime has attached a first container to it, so the factory calls
   * this once it has (see factory.ts).
   */
  start(): Promise<void> {
    this.starting ??= new Promise<void>((resolve, reject) => {
      const failed = (err: Error) => {
        this.starting = undefined;
        reject(err);
      };
      this.server.once('error', failed);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', failed);
        resolve();
      });
    });
    return this.starting;
  }

  /** "host:port", as AWS_LAMBDA_RUNTIME_API names it. */
  get address(): string {
    const a = this.server.address() as AddressInfo | null;
    return `${this.opts.host}:${a?.port ?? this.opts.port}`;
  }

  /** The ARN a function's events carry (the account is all zeros: there is none). */
  functionArn(name: string): string {
    return `arn:aws:lambda:${this.region}:000000000000:function:${name}`;
  }

  /** Requests from `ip` are `session`'s from now on, until unbind. */
  bind(ip: string, session: RuntimeSession): void {
    this.sessions.set(ip, session);
    for (const w of this.bindWaiters.get(ip) ?? []) w();
    this.bindWaiters.delete(ip);
  }

  unbind(ip: string, session: RuntimeSession): void {
    if (this.sessions.get(ip) === session) this.sessions.delete(ip);
  }

  /** Idempotent: held /next requests are cut, and the runtimes that made them see it. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.closing;
  }

  /**
   * The session of a request's source address. A runtime may call before its start has bound
   * the address (the runtime binds it once the container is started): such a call waits a moment.
   */
  private async sessionOf(req: IncomingMessage): Promise<RuntimeSession | undefined> {
    const ip = sourceAddress(req);
    const known = this.sessions.get(ip);
    if (known) return known;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.graceMs);
      const list = this.bindWaiters.get(ip) ?? [];
      list.push(() => {
        clearTimeout(timer);
        resolve();
      });
      this.bindWaiters.set(ip, list);
    });
    this.bindWaiters.delete(ip);
    return this.sessions.get(ip);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const session = await this.sessionOf(req);
    if (!session) {
      reply(res, 403, { errorMessage: 'no instance has this address', errorType: 'Forbidden' });
      return;
    }
    const path = (req.url ?? '').split('?')[0] ?? '';
    const route = path.startsWith(PREFIX) ? path.slice(PREFIX.length) : '';
    if (req.method === 'GET' && route === 'invocation/next') {
      const waiter: NextWaiter = {
        send: (inv: Invocation, functionArn: string) => {
          res.writeHead(200, {
            'content-type': 'application/json',
            'content-length': inv.payload.length,
            'lambda-runtime-aws-request-id': inv.id,
            'lambda-runtime-deadline-ms': String(inv.deadlineMs),
            'lambda-runtime-invoked-function-arn': functionArn,
            'lambda-runtime-trace-id': inv.traceId,
          });
          res.end(inv.payload);
        },
        cancel: () => res.destroy(),
      };
      res.on('close', () => session.nextGone(waiter));
      session.next(waiter);
      return;
    }
    const m = INVOCATION.exec(route);
    if (req.method === 'POST' && (m || route === 'init/error')) {
      // Checked before the body is read: an answer to no running event is not worth 8 MB.
      if (m && !session.running(m[1] ?? '')) {
        res.setHeader('connection', 'close');
        // The connection closes after the answer: the unread body is dropped with it.
        reply(res, 400, { errorMessage: `no event ${m[1]} is running`, errorType: 'InvalidRequestID' });
        return;
      }
      const body = await readBody(req);
      if (!body) {
        if (m?.[1])
          session.answer(m[1], {
            kind: 'lost',
            code: 'RESPONSE_TOO_LARGE',
            message: `the function's response is larger than ${MAX_RESPONSE_BYTES} bytes`,
          });
        reply(res, 413, {
          errorMessage: `larger than ${MAX_RESPONSE_BYTES} bytes`,
          errorType: 'RequestTooLarge',
        });
        return;
      }
      if (!m) {
        session.initError(initErrorMessage(body));
        reply(res, 202, { status: 'OK' });
        return;
      }
      const [, id = '', kind] = m;
      const errorType = req.headers['lambda-runtime-function-error-type'];
      const ok = session.answer(
        id,
        kind === 'response'
          ? { kind: 'response', payload: body }
          : {
              kind: 'error',
              payload: body,
              errorType: typeof errorType === 'string' ? errorType : undefined,
            },
      );
      if (ok) reply(res, 202, { status: 'OK' });
      else reply(res, 400, { errorMessage: `no event ${id} is running`, errorType: 'InvalidRequestID' });
      return;
    }
    reply(res, 404, { errorMessage: `no route ${req.method} ${path}`, errorType: 'NotFound' });
  }
}

function initErrorMessage(body: Buffer): string {
  const text = body.toString('utf8');
  try {
    const e = JSON.parse(text) as { errorMessage?: unknown; errorType?: unknown };
    if (typeof e.errorMessage === 'string') {
      return `its Lambda runtime failed to start: ${typeof e.errorType === 'string' ? `${e.errorType}: ` : ''}${e.errorMessage}`;
    }
  } catch {
    // Not JSON: the body says it as it is.
  }
  return `its Lambda runtime failed to start: ${text.slice(0, 1000)}`;
}
