import {
  type FunctionRecord,
  type ImageSource,
  ImportReply,
  PlaceReply,
  type Subjects,
  ThawError,
  wireError,
} from '@thaw/shared';
import { ErrorCode, JSONCodec, type NatsConnection, type NatsError } from 'nats';

const json = JSONCodec<unknown>();

function isNoResponders(err: unknown): boolean {
  return (err as NatsError)?.code === ErrorCode.NoResponders;
}
function isTimeout(err: unknown): boolean {
  return (err as NatsError)?.code === ErrorCode.Timeout;
}

export interface WorkerClientOptions {
  nc: NatsConnection;
  subjects: Subjects;
  /** How long a worker may take to import an image or start a function's first instance (PLACE_TIMEOUT_MS). */
  timeoutMs: number;
}

/**
 * Requests to the workers over NATS: image import, and placement (to one worker, or to
 * whichever of the queue group answers). Which worker to ask is the Placer's decision.
 */
export class WorkerClient {
  private readonly nc: NatsConnection;
  private readonly subjects: Subjects;
  private readonly timeoutMs: number;

  constructor(o: WorkerClientOptions) {
    this.nc = o.nc;
    this.subjects = o.subjects;
    this.timeoutMs = o.timeoutMs;
  }

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
    if (!reply.ok) throw wireError(reply.error.code, reply.error.message);
    return reply;
  }

  /** Asks worker `to` (or, without it, the queue group) to take the function on: its reply as sent. */
  async place(fn: FunctionRecord, image: ImageSource, to?: string): Promise<PlaceReply> {
    const subject = to ? this.subjects.placeOn(to) : this.subjects.place;
    return PlaceReply.parse(await this.request(subject, { fn, image }));
  }
}
