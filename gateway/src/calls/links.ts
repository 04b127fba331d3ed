import type { ClusterView } from '../cluster/view.js';
import {
  LINK_BUFFER_MAX,
  LINK_DEAD_MS,
  LINK_PING_MS,
  Link,
  type LinkEvents,
  type LinkTarget,
} from './link.js';

/** A worker whose link closed is not dialled again before this (its calls go over NATS). */
export const REDIAL_AFTER_MS = 1000;
/**
 * The longest wait between dials of a worker whose links keep failing before any frame (refused,
 * closed at the hello: an address wrong or unreachable from here): the wait doubles per failure.
 */
export const REDIAL_MAX_MS = 30_000;

export interface LinkSettings {
  /** LINK_PING_MS */
  pingMs: number;
  /** LINK_DEAD_MS */
  deadMs: number;
  /** REDIAL_AFTER_MS: the first wait, doubled per failure before any frame. */
  redialAfterMs: number;
  /** REDIAL_MAX_MS */
  redialMaxMs: number;
  /** LINK_BUFFER_MAX */
  bufferMax: number;
}

export const LINK_DEFAULTS: LinkSettings = {
  pingMs: LINK_PING_MS,
  deadMs: LINK_DEAD_MS,
  redialAfterMs: REDIAL_AFTER_MS,
  redialMaxMs: REDIAL_MAX_MS,
  bufferMax: LINK_BUFFER_MAX,
};

type Direct = Omit<LinkTarget, 'worker'>;

export interface DirectLinksOptions {
  view: Pick<ClusterView, 'holdersOf' | 'liveBeat'>;
  /** Names this gateway in the workers' logs. */
  gateway: string;
  events: LinkEvents;
  settings?: Partial<LinkSettings>;
}

function sameTarget(a: Direct, b: Direct): boolean {
  return a.host === b.host && a.port === b.port && a.token === b.token;
}

/**
 * The gateway's direct links, one per worker, dialled the first time a call goes there: which
 * worker a call of a function goes to, from the heartbeats (the live, non-draining workers that
 * hold the function and serve a direct link), the one with the fewest calls in flight from here.
 */
export class DirectLinks {
  private readonly links = new Map<string, Link>();
  /**
   * Worker → when a link to it may be dialled again after one closed, and the address that
   * failed: a worker advertising another (restarted) is dialled at once.
   */
  private readonly redialAt = new Map<string, { at: number; target: Direct }>();
  /** Worker → links in a row to that address that closed before any frame came. */
  private readonly failures = new Map<string, { n: number; target: Direct }>();
  private readonly events: LinkEvents;
  private readonly s: LinkSettings;
  private closing = false;

  constructor(private readonly o: DirectLinksOptions) {
    this.s = { ...LINK_DEFAULTS, ...o.settings };
    this.events = {
      ...o.events,
      closed: (link, ids, why) => {
        if (this.links.get(link.worker) === link) {
          this.links.delete(link.worker);
          const at = Date.now() + this.redialWait(link);
          this.redialAt.set(link.worker, { at, target: link.target });
        }
        o.events.closed(link, ids, why);
      },
    };
  }

  /** How long before dialling the worker of `link` (just closed) again. */
  private redialWait(link: Link): number {
    if (link.heard) {
      this.failures.delete(link.worker);
      return this.s.redialAfterMs;
    }
    const last = this.failures.get(link.worker);
    const n = last && sameTarget(last.target, link.target) ? last.n + 1 : 1;
    this.failures.set(link.worker, { n, target: link.target });
    return Math.min(this.s.redialAfterMs * 2 ** Math.min(n - 1, 30), this.s.redialMaxMs);
  }

  /**
   * The link a call of `fn` goes on, or undefined: it goes over NATS. Only the chosen worker is
   * dialled: one call opens at most one connection.
   */
  pick(fn: string): Link | undefined {
    if (this.closing) return undefined;
    const holders = this.o.view.holdersOf(fn);
    if (!holders) return undefined;
    const now = Date.now();
    let best: { worker: string; direct: Direct; load: number } | undefined;
    for (const worker of holders) {
      const beat = this.o.view.liveBeat(worker);
      if (!beat?.direct || beat.draining) continue;
      const link = this.links.get(worker);
      let load = 0;
      if (link && sameTarget(link.target, beat.direct)) load = link.inflight.size;
      else if (!link) {
        const wait = this.redialAt.get(worker);
        if (wait && wait.at > now && sameTarget(wait.target, beat.direct)) continue;
      }
      if (!best || load < best.load) best = { worker, direct: beat.direct, load };
    }
    return best && this.linkTo(best.worker, best.direct);
  }

  private linkTo(worker: string, d: Direct): Link {
    let link = this.links.get(worker);
    if (link && !sameTarget(link.target, d)) {
      // The worker restarted under the same id: a new process, a new link.
      this.links.delete(worker);
      link.close('restarted');
      link = undefined;
    }
    if (link) return link;
    this.redialAt.delete(worker);
    link = new Link({
      target: { worker, ...d },
      gateway: this.o.gateway,
      events: this.events,
      bufferMax: this.s.bufferMax,
    });
    this.links.set(worker, link);
    return link;
  }

  /**
   * Whether the worker `link` went to now runs as another process (its live heartbeat
   * advertises another link): what that link's worker had taken is lost.
   */
  restarted(link: Link): boolean {
    const beat = this.o.view.liveBeat(link.worker);
    return beat !== undefined && (!beat.direct || !sameTarget(beat.direct, link.target));
  }

  /** The calls in flight on the link to `worker` (0 without one). */
  load(worker: string): number {
    return this.links.get(worker)?.inflight.size ?? 0;
  }

  /**
   * Each sweep: closes the links to workers no longer live (a host that vanished closes no
   * socket: their calls not taken go over NATS, the taken ones fail WORKER_LOST by the heartbeats
   * as ever) or restarted, pings the silent ones and closes the dead; forgets the redial waits
   * of workers no longer live.
   */
  sweep(now: number): void {
    for (const [worker, link] of this.links) {
      if (!this.o.view.liveBeat(worker)) link.close();
      else if (this.restarted(link)) {
        this.links.delete(worker);
        link.close('restarted');
      } else link.check(now, this.s.pingMs, this.s.deadMs);
    }
    for (const worker of this.redialAt.keys())
      if (!this.o.view.liveBeat(worker)) this.redialAt.delete(worker);
    for (const worker of this.failures.keys())
      if (!this.o.view.liveBeat(worker)) this.failures.delete(worker);
  }

  /** Cuts every link; calls still on them are told through `closed`. */
  close(): void {
    this.closing = true;
    for (const link of this.links.values()) link.close();
    this.links.clear();
  }
}
