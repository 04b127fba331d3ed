import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { CallSends } from './calls/pending.js';
import type { ClusterView } from './cluster/view.js';

export interface GatewayMetricsOptions {
  view: Pick<ClusterView, 'list'>;
  /** Calls sent so far, by transport (Caller.sends). */
  sends?: CallSends;
  /** Async calls by state, when async calls are kept. */
  asyncCounts?: () => Promise<Record<string, number>>;
}

/** The gateway's Prometheus metrics (prom-client), on a registry of its own (one per app). */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly invocations: Counter<'function' | 'status' | 'code'>;
  readonly duration: Histogram<'function'>;
  readonly placements: Counter<'result'>;

  constructor({ view, asyncCounts, sends }: GatewayMetricsOptions) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'thaw_gateway_' });
    // Gauges that prom-client names *_total, which Prometheus reserves for counters (promtool
    // rejects them); the handle and request counts are in process_* already.
    for (const name of ['active_handles_total', 'active_requests_total', 'active_resources_total']) {
      this.registry.removeSingleMetric(`thaw_gateway_nodejs_${name}`);
    }
    this.invocations = new Counter({
      name: 'thaw_gateway_invocations_total',
      help: 'Synchronous invocations answered, by function, HTTP status and error code ("" when none). Unknown function names count as "(unknown)".',
      labelNames: ['function', 'status', 'code'],
      registers,
    });
    this.duration = new Histogram({
      name: 'thaw_gateway_invocation_duration_seconds',
      help: 'Time from receiving an invocation to having its answer, by function.',
      labelNames: ['function'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.placements = new Counter({
      name: 'thaw_gateway_placements_total',
      help: 'Requests to a worker to take a function on, by result (ok, or the error code).',
      labelNames: ['result'],
      registers,
    });
    new Gauge({
      name: 'thaw_gateway_async_calls',
      help: 'Async calls in Redis by state (waiting, active, delayed for a retry, completed, failed), over the functions this gateway consumes.',
      labelNames: ['state'],
      registers,
      async collect() {
        if (!asyncCounts) return;
        for (const [state, n] of Object.entries(await asyncCounts())) this.set({ state }, n);
      },
    });
    new Counter({
      name: 'thaw_gateway_call_sends_total',
      help: 'Sends of calls to workers, by transport: "direct" (a worker\'s direct link) or "nats" (first tries with no link to use, resends, fallbacks). Counts sends, not calls: a call whose link failed counts once under "direct" and again under "nats".',
      labelNames: ['via'],
      registers,
      collect() {
        if (!sends) return;
        this.reset();
        this.inc({ via: 'direct' }, sends.direct);
        this.inc({ via: 'nats' }, sends.nats);
      },
    });
    new Gauge({
      name: 'thaw_gateway_workers',
      help: 'Workers heard from in the last three heartbeats, by state (serving, draining).',
      labelNames: ['state'],
      registers,
      collect() {
        const live = view.list();
        this.set({ state: 'serving' }, live.filter((w) => !w.draining).length);
        this.set({ state: 'draining' }, live.filter((w) => w.draining).length);
      },
    });
    new Gauge({
      name: 'thaw_gateway_instances',
      help: 'Instances on all live workers by state, as their heartbeats tell.',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = { starting: 0, running: 0, frozen: 0 };
        for (const w of view.list()) {
          for (const f of w.functions) {
            counts.starting += f.starting;
            for (const i of f.instances) counts[i.state]++;
          }
        }
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
  }
}
