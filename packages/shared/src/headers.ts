export type HeaderMap = Record<string, string | string[]>;

/**
 * Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus the ones each
 * hop sets for itself (host, content-length): neither the gateway nor the worker passes them on.
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'content-length',
  'host',
]);

/** The end-to-end headers of a (lower-case) header object. */
export function endToEndHeaders(h: Record<string, string | string[] | undefined>): HeaderMap {
  const out: HeaderMap = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP_BY_HOP_HEADERS.has(k)) out[k] = v;
  return out;
}
