import { randomBytes, randomUUID } from 'node:crypto';

/** How one event ended, as the runtime reported it. */
export type Outcome =
  | { kind: 'response'; payload: Buffer }
  | { kind: 'error'; payload: Buffer; errorType: string | undefined }
  /** The worker ended it: the runtime went away, or broke the protocol. */
  | { kind: 'lost'; message: string; code?: 'UPSTREAM_ERROR' | 'RESPONSE_TOO_LARGE' };

/** One event on its way through the Runtime API: queued, then taken by a /next, then answered. */
export class Invocation {
  readonly id = randomUUID();
  /** X-Ray's format (Root=1-<epoch seconds, hex>-<96 random bits>); nothing reads it here. */
  readonly traceId =
    `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')};Sampled=0`;
  readonly deadlineMs: number;
  readonly done: Promise<Outcome>;
  private settle!: (o: Outcome) => void;
  private ended = false;

  constructor(
    readonly payload: Buffer,
    timeoutMs: number,
  ) {
    this.deadlineMs = Date.now() + timeoutMs;
    this.done = new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  get settled(): boolean {
    return this.ended;
  }

  end(o: Outcome): void {
    if (this.ended) return;
    this.ended = true;
    this.settle(o);
  }
}
