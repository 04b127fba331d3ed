import { endToEndHeaders, type HeaderMap, type InvokeAnswer, type InvokeRequest } from '@thaw/shared';

/**
 * An HTTP API (API Gateway v2) event, payload format 2.0: what a Lambda function behind an
 * HTTP API receives, and so what a `lambda` function called over /fn/<name>/... gets.
 */
export interface ApiGatewayV2Event {
  version: '2.0';
  routeKey: '$default';
  rawPath: string;
  rawQueryString: string;
  cookies?: string[];
  headers: Record<string, string>;
  queryStringParameters?: Record<string, string>;
  requestContext: {
    accountId: string;
    apiId: string;
    domainName: string;
    domainPrefix: string;
    http: { method: string; path: string; protocol: string; sourceIp: string; userAgent: string };
    requestId: string;
    routeKey: '$default';
    stage: '$default';
    time: string;
    timeEpoch: number;
  };
  body?: string;
  isBase64Encoded: boolean;
}

/** What the event says about the call beyond the request itself. */
export interface EventContext {
  requestId: string;
  /** The function's name: the API id and domain prefix, as a stand-in for API Gateway's. */
  functionName: string;
  /** Milliseconds since the epoch. */
  now: number;
}

/** Content types whose bodies API Gateway passes as text; any other body is base64. */
const TEXT_TYPES = /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded)|[^;]*\+(json|xml))/i;

function joined(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

/** A month name in API Gateway's `time` format ("06/Dec/2026:07:24:12 +0000"). */
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function clf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/**
 * The HTTP request as API Gateway v2 hands it to a function: headers lower-case with repeated
 * values comma-joined, cookies apart, repeated query parameters comma-joined, a text body as
 * is and any other base64-encoded.
 */
export function toApiGatewayEvent(req: InvokeRequest, ctx: EventContext): ApiGatewayV2Event {
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (const [name, value] of Object.entries(req.headers)) {
    const k = name.toLowerCase();
    if (k === 'cookie') {
      cookies = (Array.isArray(value) ? value : [value]).flatMap((c) => c.split(/;\s*/)).filter(Boolean);
      continue;
    }
    const v = joined(value);
    if (v !== undefined) headers[k] = v;
  }
  let query: Record<string, string> | undefined;
  for (const [k, v] of new URLSearchParams(req.query)) {
    query ??= {};
    query[k] = query[k] === undefined ? v : `${query[k]},${v}`;
  }
  const text = TEXT_TYPES.test(headers['content-type'] ?? '');
  const body = Buffer.from(req.body.buffer, req.body.byteOffset, req.body.length);
  const domain = headers.host ?? 'localhost';
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: req.path,
    rawQueryString: req.query,
    ...(cookies ? { cookies } : {}),
    headers,
    ...(query ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: 'anonymous',
      apiId: ctx.functionName,
      domainName: domain,
      domainPrefix: domain.split('.')[0] ?? domain,
      http: {
        method: req.method,
        path: req.path,
        protocol: 'HTTP/1.1',
        sourceIp: headers['x-forwarded-for']?.split(',')[0]?.trim() ?? '',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: ctx.requestId,
      routeKey: '$default',
      stage: '$default',
      time: clf(ctx.now),
      timeEpoch: ctx.now,
    },
    ...(body.length > 0 ? { body: text ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !text,
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A function's result as API Gateway v2 answers it: an object with `statusCode` gives the
 * status, headers, cookies (one Set-Cookie each) and body (base64-decoded when
 * `isBase64Encoded`); anything else is the body of a 200 application/json answer, as returned.
 */
export function fromApiGatewayResult(payload: Buffer): InvokeAnswer & { body: Buffer } {
  let result: unknown;
  try {
    result = JSON.parse(payload.toString('utf8'));
  } catch {
    result = undefined;
  }
  if (!isRecord(result) || typeof result.statusCode !== 'number') {
    return { ok: true, status: 200, headers: { 'content-type': 'application/json' }, body: payload };
  }
  const headers: HeaderMap = {};
  if (isRecord(result.headers)) {
    for (const [k, v] of Object.entries(result.headers)) headers[k.toLowerCase()] = String(v);
  }
  if (isRecord(result.multiValueHeaders)) {
    for (const [k, v] of Object.entries(result.multiValueHeaders)) {
      if (Array.isArray(v)) headers[k.toLowerCase()] = v.map(String);
    }
  }
  if (Array.isArray(result.cookies) && result.cookies.length > 0) {
    headers['set-cookie'] = result.cookies.map(String);
  }
  const raw = result.body === undefined || result.body === null ? '' : result.body;
  const text = typeof raw === 'string' ? raw : JSON.stringify(raw);
  const body = result.isBase64Encoded === true ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8');
  // Hop-by-hop headers (transfer-encoding, connection, upgrade...) are the gateway's to set.
  return { ok: true, status: result.statusCode, headers: endToEndHeaders(headers), body };
}

/** An HTTP status the gateway can answer with: a whole number in 200–599 (no 1xx, no 1000). */
export function answerableStatus(status: number): boolean {
  return Number.isInteger(status) && status >= 200 && status <= 599;
}
