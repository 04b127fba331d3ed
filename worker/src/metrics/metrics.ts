import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** One function's gauges on this worker. */
export interface FunctionGauges {
  name: string;
  starting: number;
  running: number;
  frozen: number;
  queued: number;
  desired: number;
  panicking: boolean;
}

/** What the gauges read when scraped: the worker's state at that moment. */
export interface WorkerGaugeSource {
  memory(): { budgetMiB: number; committedMiB: number };
  functions(): FunctionGauges[];
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const FAST_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1];

/** The worker's Prometheus metrics (prom-client), on a registry of its own. */
export class WorkerMetrics {
  readonly registry = new Registry();
  readonly invocations: Counter<'function' | 'outcome'>;
  readonly duration: Histogram<'function'>;
  readonly starts: Counter<'function' | 'reason' | 'result'>;
  readonly startDuration: Histogram<'function'>;
  readonly freezeDuration: Histogram;
  readonly thawDuration: Histogram;
  readonly scaling: Counter<'function' | 'direction'>;
  readonly evictions: Counter<'function'>;
  readonly removals: Counter<'function' | 'reason'>;
  readonly startPhase: Histogram<'function' | 'phase'>;
  readonly startCpu: Histogram<'function'>;

  constructor(source: WorkerGaugeSource) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'thaw_worker_' });
    // Gauges that prom-client names *_total, which Prometheus reserves for counters (promtool
    // rejects them); the handle and request counts are in process_* already.
    for (const name of ['active_handles_total', 'active_requests_total', 'active_resources_total']) {
      this.registry.removeSingleMetric(`thaw_worker_nodejs_${name}`);
    }
    this.invocations = new Counter({
      name: 'thaw_worker_invocations_total',
      help: 'Invocations served by this worker, by function and outcome (HTTP status, or error code).',
      labelNames: ['function', 'outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'thaw_worker_invocation_duration_seconds',
      help: 'Time from taking an invocation to having its answer, waiting for an instance included.',
      labelNames: ['function'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.starts = new Counter({
      name: 'thaw_worker_instance_starts_total',
      help: 'Instance starts (cold starts), by why (request, autoscaler, minimum, replace) and result.',
      labelNames: ['function', 'reason', 'result'],
      registers,
    });
    this.startDuration = new Histogram({
      name: 'thaw_worker_instance_start_duration_seconds',
      help: 'Time to create an instance until it listens on its port (a cold start).',
      labelNames: ['function'],
      buckets: [0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5, 15],
      registers,
    });
    this.freezeDuration = new Histogram({
      name: 'thaw_worker_freeze_duration_seconds',
      help: 'Time to freeze an instance until the kernel confirms it frozen.',
      buckets: FAST_BUCKETS,
      registers,
    });
    this.thawDuration = new Histogram({
      name: 'thaw_worker_thaw_duration_seconds',
      help: 'Time to thaw an instance (the write to its cgroup freezer).',
      buckets: FAST_BUCKETS,
      registers,
    });
    this.scaling = new Counter({
      name: 'thaw_worker_autoscaler_decisions_total',
      help: 'Autoscaler decisions that changed the wanted number of instances, by direction.',
      labelNames: ['function', 'direction'],
      registers,
    });
    this.evictions = new Counter({
      name: 'thaw_worker_evictions_total',
      help: 'Idle instances removed to make memory room for another function.',
      labelNames: ['function'],
      registers,
    });
    this.removals = new Counter({
      name: 'thaw_worker_instance_removals_total',
      help: 'Instances removed, by function and why (RemovalReason: memory, idle-age, requested, crashed, retired, closed).',
      labelNames: ['function', 'reason'],
      registers,
    });
    this.startPhase = new Histogram({
      name: 'thaw_worker_instance_start_phase_seconds',
      help: 'Wall time of each phase of a cold start (image, rootfs, network, runtime, app).',
      labelNames: ['function', 'phase'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    });
    this.startCpu = new Histogram({
      name: 'thaw_worker_instance_start_cpu_seconds',
      help: 'CPU time (user + system) one cold start cost, the container until ready included.',
      labelNames: ['function'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1],
      registers,
    });
    new Gauge({
      name: 'thaw_worker_instances',
      help: 'Instances on this worker, by function and state (starting, running, frozen).',
      labelNames: ['function', 'state'],
      registers,
      collect() {
        this.reset();
        for (const f of source.functions()) {
          this.set({ function: f.name, state: 'starting' }, f.starting);
          this.set({ function: f.name, state: 'running' }, f.running);
          this.set({ function: f.name, state: 'frozen' }, f.frozen);
        }
      },
    });
    const perFunction = (name: string, help: string, value: (f: FunctionGauges) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['function'],
        registers,
        collect() {
          this.reset();
          for (const f of source.functions()) this.set({ function: f.name }, value(f));
        },
      });
    perFunction(
      'thaw_worker_queue_depth',
      'Invocations waiting for a free instance, by function.',
      (f) => f.queued,
    );
    perFunction(
      'thaw_worker_autoscaler_desired_instances',
      "The autoscaler's latest wanted number of instances, by function.",
      (f) => f.desired,
    );
    perFunction(
      'thaw_worker_autoscaler_panic',
      '1 while the autoscaler is in panic mode for the function.',
      (f) => (f.panicking ? 1 : 0),
    );
    const memoryBytes = (name: string, help: string, mib: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(mib() * 2 ** 20);
        },
      });
    memoryBytes(
      'thaw_worker_memory_budget_bytes',
      'Memory this worker may commit to instances.',
      () => source.memory().budgetMiB,
    );
    memoryBytes(
      'thaw_worker_memory_committed_bytes',
      'Memory committed to instances (the sum of their limits).',
      () => source.memory().committedMiB,
    );
  }

  /** Serves GET /metrics; resolves to the URL it listens on. */
  async serve(port: number, host: string): Promise<{ url: string; server: Server }> {
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      this.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const addr = server.address() as AddressInfo;
    return { url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${addr.port}/metrics`, server };
  }
}
