import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * AWS Signature Version 4 verification, as the AWS SDKs sign (the Authorization header form;
 * presigned query strings are not taken). Pure: the caller reads the secret for the key id.
 * docs/coming-from-lambda.md tells what is checked.
 */

/** How far X-Amz-Date may be from the gateway's clock either way (AWS allows 15 minutes). */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

const ALGORITHM = 'AWS4-HMAC-SHA256';
const EMPTY_SHA256 = createHash('sha256').digest('hex');

/** A request as received: the raw URL (path and query, still %-encoded), headers and body bytes. */
export interface SignedRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** The parts of an Authorization header, read before the secret is known. */
export interface Credential {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

/** Why a request is refused; `kind` chooses the Lambda API's error (lambda/errors.ts). */
export class SignatureError extends Error {
  override readonly name = 'SignatureError';
  constructor(
    readonly kind: 'missing' | 'invalid' | 'unknown-key',
    message: string,
  ) {
    super(message);
  }
}

const AUTH_RE =
  /^AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;

function header(req: SignedRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** The credential in the request's Authorization header; a SignatureError when there is none or it is malformed. */
export function readCredential(req: SignedRequest): Credential {
  const auth = header(req, 'authorization');
  if (!auth) throw new SignatureError('missing', 'Missing Authentication Token');
  const m = AUTH_RE.exec(auth.trim());
  if (!m) {
    throw new SignatureError(
      'invalid',
      `Authorization header requires ${ALGORITHM} with Credential=<key id>/<date>/<region>/<service>/aws4_request, SignedHeaders and Signature`,
    );
  }
  const [, accessKeyId, date, region, service, signed, signature] = m as unknown as string[];
  return {
    accessKeyId: accessKeyId as string,
    date: date as string,
    region: region as string,
    service: service as string,
    signedHeaders: (signed as string).split(';'),
    signature: signature as string,
  };
}

/** encodeURIComponent plus the characters RFC 3986 reserves that it leaves (as the SDK's escapeUri). */
function escapeUri(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new SignatureError('invalid', 'the request URL has a %-escape that does not decode');
  }
}

/** The path as the signer saw it (still encoded once on the wire), normalised and encoded again. */
function canonicalPath(rawPath: string): string {
  const segments: string[] = [];
  for (const s of rawPath.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') segments.pop();
    else segments.push(s);
  }
  const trailing = segments.length > 0 && rawPath.endsWith('/') ? '/' : '';
  const path = `${rawPath.startsWith('/') ? '/' : ''}${segments.join('/')}${trailing}`;
  return escapeUri(path).replace(/%2F/g, '/');
}

function canonicalQuery(raw: string): string {
  if (!raw) return '';
  const pairs = raw
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      const k = decode(eq < 0 ? p : p.slice(0, eq));
      const v = eq < 0 ? '' : decode(p.slice(eq + 1));
      return [escapeUri(k), escapeUri(v)] as const;
    })
    .filter(([k]) => k.toLowerCase() !== 'x-amz-signature');
  pairs.sort(([ka, va], [kb, vb]) => (ka < kb ? -1 : ka > kb ? 1 : va < vb ? -1 : va > vb ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** X-Amz-Date (yyyymmddThhmmssZ) as epoch milliseconds, or NaN. */
function amzDateMs(v: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(v);
  if (!m) return Number.NaN;
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  return Date.UTC(y as number, (mo as number) - 1, d, h, mi, s);
}

export interface VerifyOptions {
  secretAccessKey: string;
  /** The service the signature must be for ("lambda"). */
  service: string;
  now?: number;
}

/**
 * Checks the request's signature with the key's secret: the canonical request (method, path,
 * query, the signed headers, the body's SHA-256), the string to sign, the HMAC chain; the date
 * within MAX_CLOCK_SKEW_MS and the scope's date, service and terminator. Throws SignatureError.
 */
export function verifySignature(req: SignedRequest, cred: Credential, o: VerifyOptions): void {
  if (cred.service !== o.service) {
    throw new SignatureError('invalid', `Credential should be scoped to correct service: '${o.service}'.`);
  }
  const amzDate = header(req, 'x-amz-date');
  if (!amzDate)
    throw new SignatureError('invalid', 'X-Amz-Date header is missing (the Date form is not taken)');
  const at = amzDateMs(amzDate);
  if (Number.isNaN(at))
    throw new SignatureError('invalid', `X-Amz-Date "${amzDate}" is not yyyymmddThhmmssZ`);
  if (!amzDate.startsWith(cred.date)) {
    throw new SignatureError('invalid', `Credential date ${cred.date} does not match X-Amz-Date ${amzDate}`);
  }
  const now = o.now ?? Date.now();
  if (Math.abs(now - at) > MAX_CLOCK_SKEW_MS) {
    throw new SignatureError(
      'invalid',
      `Signature expired: ${amzDate} is now earlier than ${new Date(now - MAX_CLOCK_SKEW_MS).toISOString()} or later than ${new Date(now + MAX_CLOCK_SKEW_MS).toISOString()} (15 minutes either way)`,
    );
  }
  // Every x-amz-* header (the invocation type, the log tail, the client context) and the content
  // type must be signed when present, as S3 insists: otherwise a captured request could be
  // replayed within the clock window with, say, `X-Amz-Invocation-Type` or `X-Amz-Log-Type` changed.
  const mustSign = Object.keys(req.headers)
    .map((name) => name.toLowerCase())
    .filter((name) => name.startsWith('x-amz-') || name === 'content-type');
  for (const required of new Set(['host', 'x-amz-date', ...mustSign])) {
    if (!cred.signedHeaders.includes(required)) {
      throw new SignatureError('invalid', `SignedHeaders must include "${required}"`);
    }
  }
  const bodyHash = req.body.length ? createHash('sha256').update(req.body).digest('hex') : EMPTY_SHA256;
  const declared = header(req, 'x-amz-content-sha256');
  if (declared !== undefined && declared !== bodyHash) {
    throw new SignatureError('invalid', 'x-amz-content-sha256 is not the SHA-256 of the body');
  }
  const q = req.url.indexOf('?');
  const rawPath = q < 0 ? req.url : req.url.slice(0, q);
  const canonicalHeaders = cred.signedHeaders
    .map((name) => {
      const v = header(req, name);
      if (v === undefined) throw new SignatureError('invalid', `signed header "${name}" is missing`);
      const value = v
        .replace(/[\r\n]/g, ' ')
        .replace(/[ \t]+/g, ' ')
        .replace(/^ | $/g, '');
      return `${name}:${value}\n`;
    })
    .join('');
  const canonicalRequest = [
    req.method.toUpperCase(),
    canonicalPath(rawPath),
    canonicalQuery(q < 0 ? '' : req.url.slice(q + 1)),
    canonicalHeaders,
    cred.signedHeaders.join(';'),
    bodyHash,
  ].join('\n');
  const scope = `${cred.date}/${cred.region}/${cred.service}/aws4_request`;
  const stringToSign = [
    ALGORITHM,
    amzDate,
    scope,
    createHash('sha256').update(canonicalRequest, 'utf8').digest('hex'),
  ].join('\n');
  const kDate = hmac(`AWS4${o.secretAccessKey}`, cred.date);
  const kSigning = hmac(hmac(hmac(kDate, cred.region), cred.service), 'aws4_request');
  const expected = createHmac('sha256', kSigning).update(stringToSign, 'utf8').digest();
  const given = Buffer.from(cred.signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new SignatureError(
      'invalid',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
}
