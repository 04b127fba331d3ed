import type { WorkerHeartbeat } from '@thaw/shared';
import { JSONCodec, type NatsConnection } from 'nats';

export interface HeartbeatOptions {
  nc: NatsConnection;
  subject: string;
  /** How often it is sent; gateways take the worker as lost after three missed beats. */
  intervalMs: number;
  /** What each beat says, read when it is sent. */
  message: () => WorkerHeartbeat;
}

const json = JSONCodec<WorkerHeartbeat>();

/** The worker's periodic announcement of itself: alive, its memory, its functions and instances. */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: HeartbeatOptions) {}

  /** Beats now and every interval from now on. */
  start(): void {
    this.beat();
    this.timer ??= setInterval(() => this.beat(), this.opts.intervalMs);
  }

  /** One beat now, between the regular ones (a change gateways should hear at once). */
  beat(): void {
    if (this.opts.nc.isClosed()) return;
    this.opts.nc.publish(this.opts.subject, json.encode(this.opts.message()));
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
