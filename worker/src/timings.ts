/**
 * The worker's fixed timings and sizes, in one place. What an operator may change is an
 * environment variable instead (env.ts): FREEZE_AFTER_MS, HEARTBEAT_MS, START_TIMEOUT_MS; their
 * defaults are here when other files need them too.
 */

/** HEARTBEAT_MS's default: how often the worker announces itself. */
export const DEFAULT_HEARTBEAT_MS = 500;

/** FREEZE_AFTER_MS's default: idle time after which a thawed instance is frozen again. */
export const DEFAULT_FREEZE_AFTER_MS = 100;

/** SIGTERM: how long in-flight and queued calls may take to finish before instances go. */
export const SHUTDOWN_DRAIN_MS = 30_000;

/** A rolled-over revision: how long its calls may take to finish before its instances go. */
export const RETIRE_DRAIN_MS = 60_000;

/** How often each pool samples its concurrency and asks the autoscaler. */
export const AUTOSCALER_TICK_MS = 1000;

/**
 * A pool counts as saturated (its replies say so, and the gateway places the function on
 * another worker too) for this long after a request had to wait with the pool at its maximum.
 */
export const SATURATION_WINDOW_MS = 1000;

/** Platform-side failures in a row after which an instance is retired and replaced. */
export const RETIRE_AFTER_FAILURES = 3;

/**
 * Gateways resend a call within a few seconds; one taken longer ago than this will not come
 * again, so its reply subject is forgotten.
 */
export const RESEND_WINDOW_MS = 15_000;

/**
 * The keep-alive pool to each instance. Its idle timeout (4 s) is shorter than common server
 * defaults (Node: 5 s), and it runs in this process, not the frozen one, so a reused socket is
 * never one the server is about to close the moment it thaws.
 */
export const KEEP_ALIVE = { connections: 64, idleTimeoutMs: 4000 } as const;

/** A reset can come a moment before the kernel marks the process dead: how long to look. */
export const CRASH_EXIT_WAIT_MS = 200;

/** How often the log collector reads what running instances appended. */
export const LOG_PASS_MS = 250;

/** Shutdown: how long NATS may take to flush before the connection is closed anyway. */
export const NATS_DRAIN_TIMEOUT_MS = 5000;
