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

/**
 * A Lambda runtime as the AWS base images run one, reduced to the Runtime API loop: each event
 * is answered with itself and the function's name, or reported as an error when it asks to
 * fail; it prints a line per event (for X-Amz-Log-Type Tail).
 */
const RUNTIME = `
const api = 'http://' + process.env.AWS_LAMBDA_RUNTIME_API + '/2018-06-01/runtime';
for (;;) {
  const next = await fetch(api + '/invocation/next');
  const id = next.headers.get('lambda-runtime-aws-request-id');
  const event = await next.json();
  console.log('handling ' + JSON.stringify(event));
  const [path, body] = event.fail
    ? ['/error', { errorMessage: 'asked to fail', errorType: 'TestError' }]
    : ['/response', { fn: process.env.AWS_LAMBDA_FUNCTION_NAME, event }];
  await fetch(api + '/invocation/' + id + path, { method: 'POST', body: JSON.stringify(body) });
}
`;

/** The Lambda runtime's image archive (protocol "lambda"). */
export async function lambdaRuntimeImage(outDir: string): Promise<string> {
  const { path } = await writeImageArchive(
    nodeImage([{ path: 'app/runtime.mjs', type: 'file', mode: 0o644, content: RUNTIME }], '/app/runtime.mjs'),
    'oci',
    join(outDir, 'lambda-runtime.oci.tar'),
  );
  return path;
}
