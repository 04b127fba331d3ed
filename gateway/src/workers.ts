import {
  type FunctionRecord,
  type ImageSource,
  ImportReply,
  type Logger,
  PlaceReply,
  type Subjects,
  ThawError,
} from '@thaw/shared';
import { ErrorCode, JSONCodec, type NatsConnection, type NatsError } from 'nats';
import type { Cluster } from './cluster.js';
import { fromWire } from './errors.js';
import type { GatewayMetrics } from './metrics.js';

const json = JSONCodec<unknown>();

function isNoResponders(err: unknown): boolean {
  return (err as NatsError)?.code === ErrorCode.NoResponders;
}
function isTimeout(err: unknown): boolean {
  return (err as NatsError)?.code === ErrorCode.Timeout;
}

/** Requests to the workers' queue group: image import and function placement. */
export class Workers {
  private readonly placing = new Map<string, Promise<{ workerId: string; digest: string }>>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    private readonly timeoutMs: number,
    private readonly log: Logger,
    private readonly cluster: Cluster,
    /** Set once the metrics exist (they are made after the workers). */
    public metrics?: GatewayMetrics,
  ) {}

  private async request(subject: string, body: unknown): Promise<unknown> {
    try {
      const msg = await this.nc.request(subject, json.encode(body), { timeout: this.timeoutMs });
      return json.decode(msg.data);
    } catch (err) {
      if (isNoResponders(err))
        throw new ThawError('NO_WORKER', 'no worker is connected to take this request');
      if (isTimeout(err)) throw new ThawError('NO_WORKER', `no worker answered within ${this.timeoutMs} ms`);
      throw err;
    }
  }

  async importImage(object: string): Promise<{ digest: string; size: number }> {
    const reply = ImportReply.parse(await this.request(this.subjects.importImage, { object }));
    if (!reply.ok) throw fromWire(reply.error.code, reply.error.message);
    return reply;
  }

  /**
   * Asks one worker to take the function on: `target`, or the one with most room by the
   * heartbeats, or (none heard yet) whichever worker of the queue group answers. Concurrent
   * first requests share one placement, so a burst on a cold function does not start an
   * instance per request.
   */
  place(
    fn: FunctionRecord,
    image: ImageSource,
    target?: string,
  ): Promise<{ workerId: string; digest: string }> {
    const key = `${fn.name}@${fn.revision}`;
    let p = this.placing.get(key);
    if (!p) {
      p = (async () => {
        const to = target ?? this.cluster.pick(fn.name, fn.memoryMiB);
        let answer: unknown;
        try {
          answer = await this.request(to ? this.subjects.placeOn(to) : this.subjects.place, { fn, image });
        } catch (err) {
          // The chosen worker went away since its last heartbeat: let the queue group answer.
          if (!to || !(err instanceof ThawError && err.code === 'NO_WORKER')) throw err;
          answer = await this.request(this.subjects.place, { fn, image });
        }
        const reply = PlaceReply.parse(answer);
        this.metrics?.placements.inc({ result: reply.ok ? 'ok' : reply.error.code });
        if (!reply.ok) throw fromWire(reply.error.code, reply.error.message);
        this.cluster.notePlaced(fn.name, reply.workerId);
        this.log.info({ fn: fn.name, worker: reply.workerId }, 'function placed');
        return { workerId: reply.workerId, digest: reply.digest };
      })().finally(() => this.placing.delete(key));
      this.placing.set(key, p);
    }
    return p;
  }
}
