import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import {
  type ArchiveFormat,
  type ImageDefinition,
  type LayerEntry,
  nodeBaseLayer,
  writeImageArchive,
} from '../build/index.js';
import { ensureLambdaRic } from './lambda-ric.js';

/**
 * The AWS base images' entrypoint, in their shape: the handler is the image's CMD, passed as
 * the first argument; the runtime interface client runs in the task root (its appRoot is the
 * working directory) and talks to $AWS_LAMBDA_RUNTIME_API.
 */
const ENTRYPOINT = `#!/bin/sh
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"
cd "\${LAMBDA_TASK_ROOT:-/var/task}"
exec /usr/local/bin/node /var/runtime/node_modules/aws-lambda-ric/bin/index.mjs "$_HANDLER"
`;

/**
 * The test handler (index.handler). By its event:
 * - an API Gateway v2 event (over /fn/...): answers its method, path, query and body; path
 *   "/fail" throws; path "/sleep?ms=N" answers after N ms; "/probe?port=N" tries a connection to
 *   the bridge's address on port N;
 * - anything else (the Lambda Invoke API): `{ "fail": "why" }` throws `why`, `{ "sleep": N }`
 *   answers after N ms, otherwise it answers `{ echo: event }`.
 * It prints a line per event, for the log tail.
 */
export const LAMBDA_TEST_HANDLER = `import { connect } from 'node:net';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Whether a TCP connection to the host's bridge address, on \`port\`, opens within 1 s.
const probe = (port) => new Promise((resolve) => {
  const host = process.env.AWS_LAMBDA_RUNTIME_API.split(':')[0];
  const s = connect({ host, port });
  const t = setTimeout(() => { s.destroy(); resolve('timeout'); }, 1000);
  s.once('connect', () => { clearTimeout(t); s.destroy(); resolve('connected'); });
  s.once('error', (e) => { clearTimeout(t); resolve(e.code); });
});
let calls = 0;
export const handler = async (event, context) => {
  calls++;
  console.log('event', calls, context.awsRequestId);
  if (event && event.version === '2.0' && event.requestContext) {
    const path = event.rawPath;
    if (path === '/fail') throw new Error('failed on purpose');
    if (path === '/sleep') await sleep(Number(new URLSearchParams(event.rawQueryString).get('ms') ?? 0));
    if (path === '/plain') return { plain: true };
    if (path === '/probe') return { probe: await probe(Number(event.queryStringParameters.port)) };
    return {
      statusCode: 201,
      headers: { 'content-type': 'application/json', 'x-handler': 'lambda' },
      cookies: ['a=1', 'b=2'],
      body: JSON.stringify({
        method: event.requestContext.http.method,
        path,
        query: event.queryStringParameters ?? {},
        body: event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString() : event.body ?? null,
        calls,
        fn: process.env.AWS_LAMBDA_FUNCTION_NAME,
        handler: process.env._HANDLER,
        remainingMs: context.getRemainingTimeInMillis(),
      }),
    };
  }
  if (event && event.fail) throw new TypeError(event.fail);
  if (event && event.sleep) await sleep(event.sleep);
  return { echo: event, calls, region: process.env.AWS_REGION, arn: context.invokedFunctionArn };
};
`;

function dirs(paths: string[]): LayerEntry[] {
  return paths.map((path) => ({ path, type: 'dir', mode: 0o755 }));
}

/** The package's runtime files only: bin/, dist/ (with the native client) and package.json. */
function ricEntries(pkg: string): LayerEntry[] {
  const to = 'var/runtime/node_modules/aws-lambda-ric';
  const files = ['package.json', 'bin/index.mjs', 'dist/index.mjs', 'dist/rapid-client.node'];
  return [
    ...dirs(['var/runtime', 'var/runtime/node_modules', to, `${to}/bin`, `${to}/dist`]),
    ...files.map(
      (f): LayerEntry => ({ path: `${to}/${f}`, type: 'file', mode: 0o755, source: join(pkg, f) }),
    ),
  ];
}

/**
 * A Lambda-style image as AWS's Node base images are made: the node base layer, the real
 * aws-lambda-ric under /var/runtime, /lambda-entrypoint.sh as the entrypoint (a static busybox
 * is its /bin/sh) and the handler in /var/task, named by the CMD. thaw runs it unmodified.
 */
export async function lambdaImageDefinition(): Promise<ImageDefinition> {
  const ric = await ensureLambdaRic();
  return {
    layers: [
      { entries: nodeBaseLayer() },
      {
        entries: [
          ...dirs(['bin']),
          { path: 'bin/busybox', type: 'file', mode: 0o755, source: realpathSync('/bin/busybox') },
          { path: 'bin/sh', type: 'symlink', target: 'busybox' },
          { path: 'lambda-entrypoint.sh', type: 'file', mode: 0o755, content: ENTRYPOINT },
          ...ricEntries(ric),
        ],
        gzip: true,
      },
      {
        entries: [
          ...dirs(['var/task']),
          { path: 'var/task/index.mjs', type: 'file', mode: 0o644, content: LAMBDA_TEST_HANDLER },
        ],
        gzip: true,
      },
    ],
    config: {
      Entrypoint: ['/lambda-entrypoint.sh'],
      Cmd: ['index.handler'],
      Env: [
        'PATH=/usr/local/bin:/usr/bin:/bin',
        'LAMBDA_TASK_ROOT=/var/task',
        'LAMBDA_RUNTIME_DIR=/var/runtime',
      ],
      WorkingDir: '/var/task',
    },
  };
}

/** Builds it (installing aws-lambda-ric into the cache first, once per machine). */
export async function buildLambdaImage(
  format: ArchiveFormat,
  outDir: string,
): Promise<{ path: string; digest: string }> {
  return await writeImageArchive(
    await lambdaImageDefinition(),
    format,
    join(outDir, `node-lambda.${format}.tar`),
  );
}
