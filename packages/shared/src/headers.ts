export type HeaderMap = Record<string, string | string[]>;

/**
 * Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus the ones each
 * hop sets for itself (host, content-length) and `expect`: the gateway's HTTP server answers
 * "100-continue" itself, and passed on it made Node's client in the worker refuse the call (curl
 * sends it with every body over 1 MiB). Neither the gateway nor the worker passes them on.
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
  'expect',
]);

/**
 * The end-to-end headers of a (lower-case) header object: without the hop-by-hop ones, and
 * without those the message's own `Connection` header names as hop-by-hop for it.
 */
export function endToEndHeaders(h: Record<string, string | string[] | undefined>): HeaderMap {
  const named = new Set<string>();
  const connection = h.connection;
  for (const value of Array.isArray(connection) ? connection : connection ? [connection] : []) {
    for (const name of value.split(',')) named.add(name.trim().toLowerCase());
  }
  const out: HeaderMap = {};
  for (const [k, v] of Object.entries(h)) {
    if (v !== undefined && !HOP_BY_HOP_HEADERS.has(k) && !named.has(k)) out[k] = v;
  }
  return out;
}
