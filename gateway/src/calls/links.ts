import type { ClusterView } from '../cluster/view.js';
import { Link, type LinkEvents } from './link.js';

/** A worker whose link closed is not dialled again before this (its calls go over NATS). */
export const REDIAL_AFTER_MS = 1000;

export interface DirectLinksOptions {
  view: Pick<ClusterView, 'holdersOf' | 'liveBeat'>;
  /** Names this gateway in the workers' logs. */
  gateway: string;
  events: LinkEvents;
}

/**
 * The gateway's direct links, one per worker, dialled the first time a call goes there: which
 * worker a call of a function goes to, from the heartbeats (the live, non-draining workers that
 * hold the function and serve a direct link), the one with the fewest calls in flight from here.
 */
export class DirectLinks {
  private readonly links = new Map<string, Link>();
  /** Worker → when a link to it may be dialled again after one closed. */
  private readonly redialAt = new Map<string, number>();
  private readonly events: LinkEvents;
  private closing = false;

  constructor(private readonly o: DirectLinksOptions) {
    this.events = {
      ...o.events,
      closed: (link, ids) => {
        if (this.links.get(link.worker) === link) {
          this.links.delete(link.worker);
          this.redialAt.set(link.worker, Date.now() + REDIAL_AFTER_MS);
        }
        o.events.closed(link, ids);
      },
    };
  }

  /** The link a call of `fn` goes on, or undefined: it goes over NATS. */
  pick(fn: string): Link | undefined {
    if (this.closing) return undefined;
    const holders = this.o.view.holdersOf(fn);
    if (!holders) return undefined;
    let best: Link | undefined;
    for (const worker of holders) {
      const beat = this.o.view.liveBeat(worker);
      if (!beat?.direct || beat.draining) continue;
      const link = this.linkTo(worker, beat.direct);
      if (link && (!best || link.inflight.size < best.inflight.size)) best = link;
    }
    return best;
  }

  private linkTo(worker: string, d: { host: string; port: number; token: string }): Link | undefined {
    let link = this.links.get(worker);
    if (
      link &&
      (link.target.host !== d.host || link.target.port !== d.port || link.target.token !== d.token)
    ) {
      // The worker restarted under the same id: a new process, a new link.
      this.links.delete(worker);
      link.close();
      link = undefined;
    }
    if (link) return link;
    const at = this.redialAt.get(worker);
    if (at !== undefined) {
      if (at > Date.now()) return undefined;
      this.redialAt.delete(worker);
    }
    link = new Link({ worker, ...d }, this.o.gateway, this.events);
    this.links.set(worker, link);
    return link;
  }

  /**
   * Closes the links to workers no longer live (a host that vanished closes no socket): their
   * calls not taken go over NATS, the taken ones fail WORKER_LOST by the heartbeats as ever.
   */
  prune(): void {
    for (const [worker, link] of this.links) {
      if (!this.o.view.liveBeat(worker)) link.close();
    }
  }

  /** Cuts every link; calls still on them are told through `closed`. */
  close(): void {
    this.closing = true;
    for (const link of this.links.values()) link.close();
    this.links.clear();
  }
}
