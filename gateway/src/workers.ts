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
import { fromWire } from './errors.js';

const json = JSONCodec<unknown>();

export function isNoResponders(err: unknown): boolean {
  return (err as NatsError)?.code === ErrorCode.NoResponders;
}
export function isTimeout(err: unknown): boolean {
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
   * Asks one worker to take the function on. Concurrent first requests share one placement,
   * so a burst on a cold function does not start an instance per request.
   */
  place(fn: FunctionRecord, image: ImageSource): Promise<{ workerId: string; digest: string }> {
    let p = this.placing.get(fn.name);
    if (!p) {
      p = (async () => {
        const reply = PlaceReply.parse(await this.request(this.subjects.place, { fn, image }));
        if (!reply.ok) throw fromWire(reply.error.code, reply.error.message);
        this.log.info({ fn: fn.name, worker: reply.workerId }, 'function placed');
        return { workerId: reply.workerId, digest: reply.digest };
      })().finally(() => this.placing.delete(fn.name));
      this.placing.set(fn.name, p);
    }
    return p;
  }
}
