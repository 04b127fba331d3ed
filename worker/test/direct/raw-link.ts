/**
 * A gateway's end of a direct link for tests, written from the frames alone (not gateway/'s Link):
 * sends bytes as given, well-formed or not, and collects what the worker sends back.
 */
import { connect, type Socket } from 'node:net';
import {
  encodeCall,
  encodeHello,
  encodeInvokeRequest,
  type Frame,
  FrameReader,
  HeaderBlock,
  type InvokeRequest,
} from '@thaw/shared';

/** How long a test waits for a frame or a close it expects (loopback: milliseconds in practice). */
export const EXPECT_WITHIN_MS = 3000;

export class RawLink {
  readonly frames: Frame[] = [];
  /** Resolves when the socket closed, whoever closed it. */
  readonly closed: Promise<void>;
  private readonly reader = new FrameReader();
  private changed: () => void = () => undefined;

  private constructor(private readonly socket: Socket) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined); // a reset by the worker: 'close' follows
    socket.on('close', () => this.changed());
    socket.on('data', (chunk: Buffer) => {
      this.frames.push(...this.reader.push(chunk));
      this.changed();
    });
  }

  static open(port: number): Promise<RawLink> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, noDelay: true });
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new RawLink(s));
      });
    });
  }

  /** Writes `parts` in one write (one chunk for the worker, in practice, on loopback). */
  send(...parts: Uint8Array[]): void {
    this.socket.write(Buffer.concat(parts));
  }

  /** The first `n` frames, once they came (or what came within EXPECT_WITHIN_MS). */
  async next(n: number): Promise<Frame[]> {
    await this.until(() => this.frames.length >= n || this.socket.destroyed);
    return this.frames.slice(0, n);
  }

  /** Whether the worker closed the link within EXPECT_WITHIN_MS. */
  async closedByWorker(): Promise<boolean> {
    await this.until(() => this.socket.destroyed);
    return this.socket.destroyed;
  }

  /** Ends the link from this side and waits until both sides closed it (the worker saw the FIN). */
  async end(): Promise<void> {
    this.socket.end();
    await this.closed;
  }

  /** Whether neither side closed the link (as far as this side saw). */
  get open(): boolean {
    return !this.socket.destroyed;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private until(check: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, EXPECT_WITHIN_MS);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      if (check()) return done();
      this.changed = () => {
        if (check()) done();
      };
    });
  }
}

/** A call as a gateway encodes it: the request in a header block, the body as payload. */
export function callFrame(id: string, fn: string, body: string | Uint8Array): Buffer {
  const req: InvokeRequest = {
    method: 'POST',
    path: '/p',
    query: 'q=1',
    headers: { 'x-test': 'ü' },
    body: typeof body === 'string' ? Buffer.from(body) : body,
  };
  const h = new HeaderBlock();
  const data = encodeInvokeRequest(req, h);
  return Buffer.concat(encodeCall(id, fn, h.encode(), data));
}

export const hello = (token: string): Buffer => encodeHello('test-gateway', token);
