import { z } from 'zod';

/**
 * How a component reaches NATS: the settings every NATS client of thaw (gateway, worker) reads,
 * in one place so they cannot drift apart. The result of `natsConnectOptions` fits nats.js's
 * `ConnectionOptions`; this package does not depend on nats.
 */
export const NatsEnv = z.object({
  /**
   * One server or a comma-separated list (a cluster): the client picks one and, when it is lost,
   * reconnects to another. List every node: thaw's cluster config does not advertise
   * the others (no_advertise, infra/nats), so clients know only these.
   */
  NATS_URL: z.string().min(1).default('nats://127.0.0.1:4222'),
  /** User and password the servers require (nats-server `authorization { users }`). */
  NATS_USER: z.string().min(1).optional(),
  NATS_PASSWORD: z.string().min(1).optional(),
  /** A token the servers require (`authorization { token }`), instead of user and password. */
  NATS_TOKEN: z.string().min(1).optional(),
  /** TLS to the servers: the CA that signed their certificates (PEM file). */
  NATS_TLS_CA: z.string().min(1).optional(),
  /** TLS client certificate and key (PEM files), when the servers verify clients. */
  NATS_TLS_CERT: z.string().min(1).optional(),
  NATS_TLS_KEY: z.string().min(1).optional(),
});
export type NatsEnv = z.infer<typeof NatsEnv>;

/** The servers of a NATS_URL value: comma-separated, blanks ignored. */
export function natsServers(url: string): string[] {
  return url
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * How the clients notice a lost server and move to another (docs/nats-cluster.md):
 * - a server killed on a live host closes its sockets: the client sees it at once and dials the
 *   next server of its list (one it has not just tried: no wait);
 * - a host that vanishes (power, network) closes nothing: only pings tell, so the client pings
 *   every 2 s and gives the server up after 2 unanswered pings (~4-6 s) instead of nats.js's
 *   default 2 min × 2;
 * - a server tried less than RECONNECT_WAIT_MS ago is tried again after that wait, so a whole
 *   cluster down is retried twice a second (nats.js's default is 2 s, which would add up to
 *   2 s to a recovery), without a tight loop.
 * The list is shuffled (noRandomize false, nats.js's default, set here on purpose): the
 * components spread over the nodes, and the loss of one touches a share of the connections.
 */
export const NATS_PING_MS = 2000;
export const NATS_MAX_PINGS_OUT = 2;
export const NATS_RECONNECT_WAIT_MS = 500;

export interface NatsConnectOptions {
  servers: string[];
  name: string;
  maxReconnectAttempts: number;
  reconnectTimeWait: number;
  pingInterval: number;
  maxPingOut: number;
  noRandomize: boolean;
  user?: string;
  pass?: string;
  token?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

/** Connection options for nats.js `connect()`: reconnecting forever, over every listed server. */
export function natsConnectOptions(env: NatsEnv, name: string): NatsConnectOptions {
  const o: NatsConnectOptions = {
    servers: natsServers(env.NATS_URL),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: NATS_RECONNECT_WAIT_MS,
    pingInterval: NATS_PING_MS,
    maxPingOut: NATS_MAX_PINGS_OUT,
    noRandomize: false,
  };
  if (env.NATS_USER !== undefined) o.user = env.NATS_USER;
  if (env.NATS_PASSWORD !== undefined) o.pass = env.NATS_PASSWORD;
  if (env.NATS_TOKEN !== undefined) o.token = env.NATS_TOKEN;
  if (env.NATS_TLS_CA || env.NATS_TLS_CERT || env.NATS_TLS_KEY) {
    o.tls = {};
    if (env.NATS_TLS_CA) o.tls.caFile = env.NATS_TLS_CA;
    if (env.NATS_TLS_CERT) o.tls.certFile = env.NATS_TLS_CERT;
    if (env.NATS_TLS_KEY) o.tls.keyFile = env.NATS_TLS_KEY;
  }
  return o;
}

/**
 * What to tell a person whose first connection to NATS failed: the servers, the user, the
 * server's reason, and the settings to check. nats.js's own error names none of them.
 */
export function natsConnectProblem(err: unknown, env: NatsEnv): string {
  const reason = err instanceof Error ? err.message : String(err);
  const who = env.NATS_USER ? ` as user ${env.NATS_USER}` : env.NATS_TOKEN ? ' with a token' : '';
  const auth = /authori[sz]ation|authentication|permission/i.test(reason);
  const hint = auth
    ? 'check NATS_USER and NATS_PASSWORD (or NATS_TOKEN) against the servers’ users'
    : /tls|certificate|self.signed/i.test(reason)
      ? 'check NATS_TLS_CA (and NATS_TLS_CERT/NATS_TLS_KEY when the servers verify clients)'
      : 'check NATS_URL and that a server listed there is running and reachable';
  return `cannot connect to NATS (${natsServers(env.NATS_URL).join(', ')})${who}: ${reason}; ${hint}`;
}
