import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupFunction } from 'node:net';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/** One address a name resolved to. */
export interface Resolved {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to all its addresses (DNS in production; a fake in unit tests). */
export type Resolver = (host: string) => Promise<Resolved[]>;

export const systemResolver: Resolver = async (host) =>
  (await dnsLookup(host, { all: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

/** This host's own addresses, on every interface (not only loopback), as they are now. */
export function interfaceAddresses(): Resolved[] {
  const out: Resolved[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? [])
      out.push({ address: a.address.split('%')[0] ?? a.address, family: a.family === 'IPv6' ? 6 : 4 });
  }
  return out;
}

// Where thaw may not go on a user's behalf (callbacks, registry pulls) unless allowed: this host's
// networks, cloud metadata, multicast.
const PRIVATE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['224.0.0.0', 3],
] as const)
  PRIVATE.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 127],
  // NAT64: the last 32 bits are an IPv4 address, any of the above included.
  ['64:ff9b::', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  PRIVATE.addSubnet(net, prefix, 'ipv6');

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it is. */
function canonical(a: Resolved): Resolved {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a.address)?.[1];
  return mapped ? { address: mapped, family: 4 } : a;
}

function isLocal(a: Resolved, local: Resolved[]): boolean {
  const own = new BlockList();
  for (const l of local.map(canonical)) own.addAddress(l.address, l.family === 6 ? 'ipv6' : 'ipv4');
  return own.check(a.address, a.family === 6 ? 'ipv6' : 'ipv4');
}

export interface GuardOptions {
  /** Private, loopback, link-local and this host's own addresses are allowed. */
  allowPrivate: boolean;
  /** The setting that allows them, named in a refusal (e.g. "ASYNC_CALLBACK_PRIVATE=allow"). */
  allowedBy?: string;
  resolve?: Resolver;
  /** This host's addresses; read from the interfaces at each check by default. */
  local?: () => Resolved[];
}

/** Where a request may go: the address that was checked, to connect to and nowhere else. */
export type Target = { ok: true; host: string; address: Resolved } | { ok: false; reason: string };

/**
 * Resolves the URL's host once and checks every address it gave: one refused address refuses
 * the URL (the connection could otherwise be steered to it). The request must then connect to
 * `address` (see `pinnedLookup`), never resolve the name again: a second answer could differ.
 */
export async function checkTarget(url: string, o: GuardOptions): Promise<Target> {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  let addrs: Resolved[];
  const literal = isIP(host);
  if (literal) addrs = [{ address: host, family: literal === 6 ? 6 : 4 }];
  else {
    try {
      addrs = await (o.resolve ?? systemResolver)(host);
    } catch (err) {
      return { ok: false, reason: `cannot resolve ${host}: ${(err as Error).message}` };
    }
  }
  const first = addrs[0];
  if (!first) return { ok: false, reason: `${host} resolves to no address` };
  if (o.allowPrivate) return { ok: true, host, address: first };
  const local = (o.local ?? interfaceAddresses)();
  for (const a of addrs.map(canonical)) {
    const kind = PRIVATE.check(a.address, a.family === 6 ? 'ipv6' : 'ipv4')
      ? 'a private, loopback or link-local address'
      : isLocal(a, local)
        ? "one of this host's own addresses"
        : undefined;
    if (kind)
      return {
        ok: false,
        reason: `${host} is ${a.address}, ${kind}${o.allowedBy ? ` (${o.allowedBy} permits it)` : ''}`,
      };
  }
  return { ok: true, host, address: first };
}

/** A `lookup` for http.request that answers every name with the checked address. */
export function pinnedLookup(address: Resolved): LookupFunction {
  return ((_host: string, options: { all?: boolean }, cb: (...args: unknown[]) => void) => {
    if (options?.all) cb(null, [{ address: address.address, family: address.family }]);
    else cb(null, address.address, address.family);
  }) as LookupFunction;
}
