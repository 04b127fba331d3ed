import { join } from 'node:path';
import { nodeImage, writeImageArchive } from '@thaw/runtime/build';

/**
 * A function that misbehaves on request, for the error responses: each path makes thaw answer
 * one of its codes, or sends what thaw must not trust.
 */
const SERVER = `
import { createServer } from 'node:http';

if (process.env.FAIL_START) {
  console.error('refusing to start: ' + process.env.FAIL_START);
  process.exit(3);
}

createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://fn');
  req.resume();
  req.on('end', () => {
    switch (url.pathname) {
      case '/forge': {
        // Pretends to be a platform failure: thaw must not pass this header on.
        const status = Number(url.searchParams.get('status') ?? 200);
        res.writeHead(status, { 'content-type': 'text/plain', 'x-thaw-error': 'NO_WORKER', 'x-own': 'kept' });
        res.end('my own answer');
        return;
      }
      case '/big': {
        // More than one call can carry, streamed in 1 MiB pieces.
        const mib = Number(url.searchParams.get('mib') ?? 9);
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const piece = Buffer.alloc(1024 * 1024, 120);
        let sent = 0;
        const more = () => {
          while (sent < mib) {
            sent++;
            if (!res.write(piece)) return void res.once('drain', more);
          }
          res.end();
        };
        more();
        return;
      }
      case '/hangup':
        // Closes the connection without an answer; the process goes on running.
        req.socket.destroy();
        return;
      case '/sleep': {
        const ms = Number(url.searchParams.get('ms') ?? 0);
        setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ slept: ms })), ms);
        return;
      }
      default:
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path: url.pathname }));
    }
  });
}).listen(Number(process.env.PORT ?? 8080), '0.0.0.0');
`;

/** Builds the image as a docker-archive under `dir`; resolves to its path. */
export async function buildMisbehavingImage(dir: string): Promise<string> {
  const def = nodeImage([{ path: 'app/server.mjs', type: 'file', mode: 0o644, content: SERVER }]);
  return (await writeImageArchive(def, 'docker-archive', join(dir, 'misbehaving.tar'))).path;
}
