/**
 * Sends gathered until the event loop's check phase, then made together. nats.js writes its
 * outbound buffer to the socket one microtask after the first publish, so every publish made
 * from its own I/O callback (an HTTP request on the gateway, a container's answer on the
 * worker) costs a write system call of its own: under load that was the top of both profiles.
 * Sends queued during one poll phase go out in one write instead. setImmediate runs right
 * after the poll phase that queued it: an unloaded process adds no wait.
 */
export class SendBatch {
  private queued: (() => void)[] = [];
  private scheduled = false;

  /** Queues `send` for this turn's check phase. */
  add(send: () => void): void {
    this.queued.push(send);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Makes the queued sends now (a caller about to write anyway, or closing). */
  readonly flush = (): void => {
    this.scheduled = false;
    const queued = this.queued;
    if (queued.length === 0) return;
    this.queued = [];
    for (const send of queued) send();
  };
}
