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
  // Runs on every call on both sides: no Set and no entry arrays unless there is a Connection
  // header to read (a rare one on a function's answer or a gateway's request).
  const connection = h.connection;
  let named: Set<string> | undefined;
  if (connection !== undefined) {
    named = new Set();
    for (const value of Array.isArray(connection) ? connection : [connection]) {
      for (const name of value.split(',')) named.add(name.trim().toLowerCase());
    }
  }
  const out: HeaderMap = {};
  for (const k in h) {
    const v = h[k];
    if (v !== undefined && !HOP_BY_HOP_HEADERS.has(k) && !named?.has(k)) out[k] = v;
  }
  return out;
}
