import { join } from 'node:path';
import { nodeImage, writeImageArchive } from '@thaw/runtime/build';

/**
 * A function for the schedule tests: each call is answered with what it saw (method, path,
 * query, body, the schedule headers) and counted by its x-thaw-scheduled-at; GET /seen answers
 * those counts. Under /fail every call answers 500.
 */
const SERVER = `
import { createServer } from 'node:http';

const seen = {};
createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://fn');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const json = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/seen') return json(200, seen);
    const at = req.headers['x-thaw-scheduled-at'] ?? '';
    seen[at] = (seen[at] ?? 0) + 1;
    json(url.pathname.startsWith('/fail') ? 500 : 200, {
      method: req.method,
      path: url.pathname,
      query: url.search,
      body: Buffer.concat(chunks).toString('utf8'),
      schedule: req.headers['x-thaw-schedule'] ?? null,
      scheduledAt: at,
    });
  });
}).listen(Number(process.env.PORT ?? 8080), '0.0.0.0');
`;

/** The tick function's image archive. */
export async function tickImage(outDir: string): Promise<string> {
  const { path } = await writeImageArchive(
    nodeImage([{ path: 'app/server.mjs', type: 'file', mode: 0o644, content: SERVER }]),
    'oci',
    join(outDir, 'schedule-tick.oci.tar'),
  );
  return path;
}
