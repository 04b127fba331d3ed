/**
 * One process of the `hops` chain (scenarios/hops.ts): it listens on a loopback port and, for
 * each line a client sends, forwards it to the next process (NEXT_PORT) and sends the answer
 * back; without NEXT_PORT it is the chain's end and echoes. Lines, not HTTP: the chain measures
 * what a hop between processes costs (wake-ups, scheduling), not a protocol's parser.
 */
import { connect, createServer, type Socket } from 'node:net';

const next = Number(process.env.NEXT_PORT || 0);

/** Sends each line to the next process over one connection; its answers come back in order. */
function upstream(port: number): (line: string, answer: (line: string) => void) => void {
  const sock: Socket = connect({ host: '127.0.0.1', port, noDelay: true });
  const waiting: Array<(line: string) => void> = [];
  let buf = '';
  sock.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl + 1);
      buf = buf.slice(nl + 1);
      waiting.shift()?.(line);
    }
  });
  sock.on('error', (e) => {
    console.error(`hop-relay: next process: ${e.message}`);
    process.exit(1);
  });
  return (line, answer) => {
    waiting.push(answer);
    sock.write(line);
  };
}

const forward = next ? upstream(next) : undefined;
const server = createServer({ noDelay: true }, (sock) => {
  let buf = '';
  sock.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl + 1);
      buf = buf.slice(nl + 1);
      if (forward) forward(line, (answer) => sock.write(answer));
      else sock.write(line);
    }
  });
  sock.on('error', () => sock.destroy());
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
});
process.on('disconnect', () => process.exit(0));
