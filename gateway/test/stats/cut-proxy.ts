import net from 'node:net';

/**
 * A TCP proxy to Redis that, when armed, lets the first command holding `marker` reach Redis
 * and loses Redis's reply to it: `drop` closes the connection, `error` answers an error
 * instead. The write landed; the client cannot know.
 */
export class CutProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private armed = false;
  /** How many times a reply was cut. */
  cuts = 0;

  constructor(
    private readonly target: { host: string; port: number },
    private readonly marker: string,
    private readonly how: 'drop' | 'error',
  ) {
    this.server = net.createServer((c) => this.pipe(c));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  arm(): void {
    this.armed = true;
  }

  private pipe(c: net.Socket): void {
    const s = net.connect(this.target.port, this.target.host);
    let cutting = false;
    for (const sock of [c, s]) {
      this.sockets.add(sock);
      sock.on('error', () => {});
      sock.on('close', () => {
        this.sockets.delete(sock);
        c.destroy();
        s.destroy();
      });
    }
    c.on('data', (d) => {
      if (this.armed && d.includes(this.marker)) {
        this.armed = false;
        cutting = true;
      }
      s.write(d);
    });
    s.on('data', (d) => {
      if (cutting) {
        this.cuts++;
        if (this.how === 'error') {
          cutting = false;
          c.write('-ERR the proxy lost the reply\r\n');
          return;
        }
        c.destroy();
        s.destroy();
        return;
      }
      c.write(d);
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
