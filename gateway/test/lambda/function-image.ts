import { join } from 'node:path';
import { nodeImage, writeImageArchive } from '@thaw/runtime/build';

/**
 * A plain HTTP function (protocol "http") for the Lambda API tests: POST / takes the event and
 * answers it back with the image's version, $GREETING and the client context header; an event
 * `{ "fail": true }` answers 500, `{ "sleepMs": n }` answers after n ms.
 */
const server = (version: string) => `
import { createServer } from 'node:http';

createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8');
    const event = text ? JSON.parse(text) : null;
    const answer = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (event?.fail) return answer(500, { oops: 'asked to fail' });
    setTimeout(
      () =>
        answer(200, {
          version: ${JSON.stringify(version)},
          method: req.method,
          path: req.url,
          greeting: process.env.GREETING ?? null,
          clientContext: req.headers['x-amz-client-context'] ?? null,
          event,
        }),
      event?.sleepMs ?? 0,
    );
  });
}).listen(Number(process.env.PORT ?? 8080), '0.0.0.0');
`;

/** The echo function's image archive, for `version` ("v1", "v2": each its own digest). */
export async function echoImage(outDir: string, version: string): Promise<string> {
  const { path } = await writeImageArchive(
    nodeImage([{ path: 'app/server.mjs', type: 'file', mode: 0o644, content: server(version) }]),
    'oci',
    join(outDir, `lambda-echo-${version}.oci.tar`),
  );
  return path;
}
